"""CLI smoke runs: ``codeprm select`` and ``codeprm eval --samples FILE`` on tiny hand-made files, and
``codeprm bench select`` on two problems of the real data (skipped when ../shared/data is absent)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codeprm.problems import Problem, TestCase, write_jsonl
from codeprm.select.bench import DATA
from codeprm.select.run import stub_prompt

PROBLEMS = [
    Problem(id="D/0", prompt="def double(x):\n", entry_point="double",
            tests=[TestCase.call(args=[3], expected=6), TestCase.call(args=[0], expected=0)]),
    Problem(id="D/1", prompt="def neg(x):\n", entry_point="neg", tests=[TestCase.call(args=[2], expected=-2)]),
]
SAMPLES = [
    {"prompt": "def double(x):\n", "samples": ["    return 2 * x\n", "    return x + 2\n", "    return x + 2\n", "    return x * 2\n"]},
    {"prompt": "def neg(x):\n", "samples": ["    return -x\n", "    return x\n", "    return x\n", "    return 0 - x\n"]},
]
TESTS = [
    {"prompt": stub_prompt("def double(x):\n", "double"), "samples": ["double(1) == 2\nassert double(5) == 10", "double(2) == 4", "double(1) == 3"]},
    {"task_id": "D/1", "prompt": "", "samples": ["neg(1) == -1\nassert neg(3) == -3", "neg(0) == 0\nassert neg(", "x == 1"]},
]


def _files(tmp_path: Path) -> tuple[str, Path, Path]:
    bench = tmp_path / "problems.jsonl"
    write_jsonl(PROBLEMS, bench)
    samples, tests = tmp_path / "samples.jsonl", tmp_path / "tests.jsonl"
    samples.write_text("".join(json.dumps(r) + "\n" for r in SAMPLES))
    tests.write_text("".join(json.dumps(r) + "\n" for r in TESTS))
    return f"jsonl:{bench}", samples, tests


def test_select_picks_the_consensus_and_scores_it_beside_random_and_oracle(tmp_path):
    from codeprm.cli import app

    bench, samples, tests = _files(tmp_path)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["select", "--samples", str(samples), "--tests", str(tests), "-b", bench,
                                      "--method", "codet", "--cache", str(tmp_path / "m.sqlite"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["table"]["random"]["pass1"] == pytest.approx(0.5)
    assert summary["table"]["oracle"]["pass1"] == 1.0
    assert summary["table"]["codet"]["pass1"] == 1.0  # the 2 correct samples agree on every valid claim
    rows = [json.loads(line) for line in (out / "selected.jsonl").read_text().splitlines()]
    assert [r["passed"] for r in rows] == [True, True] and rows[0]["tied"] == 2


def test_select_with_public_examples_filters_on_the_docstring(tmp_path):
    from codeprm.cli import app

    # the docstring shows double(3) -> 6; three samples agree on x + 2 (and on the generated claim
    # double(1) == 3, a wrong one), so CodeT picks them; the example rejects them (x + 2 gives 5)
    prompt = 'def double(x):\n    """\n    >>> double(3)\n    6\n    """\n'
    bench = tmp_path / "problems.jsonl"
    write_jsonl([PROBLEMS[0].model_copy(update={"prompt": prompt})], bench)
    samples, tests = tmp_path / "samples.jsonl", tmp_path / "tests.jsonl"
    completions = ["    return 2 * x\n"] + ["    return x + 2\n"] * 3
    samples.write_text("".join(json.dumps({"task_id": "D/0", "completion": c}) + "\n" for c in completions))
    tests.write_text(json.dumps({"task_id": "D/0", "prompt": "", "samples": ["double(1) == 3"] * 2}) + "\n")
    table = {}
    for method in ("codet", "public+codet"):
        out = tmp_path / method
        result = CliRunner().invoke(app, ["select", "--samples", str(samples), "--tests", str(tests), "-b", f"jsonl:{bench}",
                                          "--method", method, "--cache", str(tmp_path / "m.sqlite"), "-o", str(out)])
        assert result.exit_code == 0, result.output
        table[method] = json.loads((out / "summary.json").read_text())["table"][method]["pass1"]
    assert "public examples: 1 in 1 of 1 problems" in result.output
    assert table == {"codet": 0.0, "public+codet": 1.0}


def test_select_bad_method_is_one_line_and_exit_2(tmp_path):
    from codeprm.cli import main  # noqa: F401 - the console script's error handling
    from codeprm.cli import app

    bench, samples, tests = _files(tmp_path)
    result = CliRunner().invoke(app, ["select", "--samples", str(samples), "--tests", str(tests), "-b", bench, "--method", "best"])
    assert result.exit_code != 0
    assert "unknown method 'best'" in str(result.exception) or "unknown method 'best'" in result.output


def test_eval_samples_file_reports_unbiased_pass_at_k(tmp_path):
    from codeprm.cli import app

    bench, samples, _ = _files(tmp_path)
    result = CliRunner().invoke(app, ["eval", "--samples", str(samples), "-b", bench, "-k", "1", "-k", "2", "-o", str(tmp_path / "e")])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "e" / "summary.json").read_text())
    assert summary["layout"] == "codet" and summary["samples"] == 8
    assert summary["pass_at_k"]["pass@1"] == pytest.approx(0.5)
    assert summary["pass_at_k"]["pass@2"] == pytest.approx(1 - 1 / 6)  # 1 - C(2,2)/C(4,2) per problem


@pytest.mark.slow
@pytest.mark.skipif(not (DATA / "humaneval_codegen16b_t0.8_n100_samples.jsonl").is_file(),
                    reason=f"shared data not found in {DATA} (see its README.md)")
def test_bench_select_on_two_real_problems(tmp_path):
    from codeprm.cli import app

    out = tmp_path / "b.json"
    result = CliRunner().invoke(app, ["bench", "select", "--limit", "2", "--cache", str(tmp_path / "m.sqlite"),
                                      "--set", "subsets=2", "--json", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["data"]["problems"] == 2 and data["data"]["samples"] == 200
    assert set(data["tables"]) == {"all", "10", "50"}
    assert data["oracle_pass1"] >= data["random_pass1"]
    # HumanEval/0 and /1 show doctest examples that their references pass
    assert data["public_examples"]["problems_with_examples"] == 2 and data["public_examples"]["wrong_by_reference"] == 0
    assert "public+b4" in data["tables"]["all"] and isinstance(data["best_uses_public_examples"], bool)


def test_tests_generate_writes_codet_rows_with_task_ids(tmp_path, monkeypatch):
    from types import SimpleNamespace

    import codeprm.policy.registry as registry
    from codeprm.evaluate.external import load_samples
    from codeprm.select.run import TestsConfig, generate_tests

    seen = []

    class Fake:
        def generate(self, prompts, n=1, **kwargs):
            seen.extend(prompts)
            return [[SimpleNamespace(text="f(1) == 2\nassert f(2) ==")] * n for _ in prompts]

    monkeypatch.setattr(registry, "load_policy", lambda spec: Fake())
    bench = tmp_path / "p.jsonl"
    write_jsonl(PROBLEMS, bench)
    out = tmp_path / "tests.jsonl"
    stats = generate_tests(TestsConfig(benchmark=f"jsonl:{bench}", samples=2), out)
    assert seen[0] == "def double(x):\n    pass\n\n# check the correctness of double\nassert "
    assert stats["asserts"] == 8 and stats["unparsed"] == 4  # the cut-off second assert of each generation
    loaded = load_samples(out, PROBLEMS)
    assert set(loaded.completions) == {"D/0", "D/1"} and not loaded.errors
