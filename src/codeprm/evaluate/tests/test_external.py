"""Judging samples generated elsewhere: the three layouts, bad rows, pass@k."""

from __future__ import annotations

import json

import pytest

from codeprm.errors import CodeprmError
from codeprm.evaluate.external import judge, load_samples, pass_at_ks
from codeprm.problems import Problem, TestCase


def _problems():
    tests = [TestCase.call(args=[1], expected=2), TestCase.call(args=[5], expected=6)]
    return [Problem(id="T/0", prompt="def inc(x):\n", entry_point="inc", tests=tests),
            Problem(id="T/1", prompt="def dec(x):\n", entry_point="dec",
                    tests=[TestCase.call(args=[1], expected=0)])]


def _write(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_humaneval_layout_with_bad_rows_still_judges_the_rest(tmp_path):
    path = _write(tmp_path / "s.jsonl", [
        {"task_id": "T/0", "completion": "    return x + 1\n"},
        {"task_id": "T/0", "completion": "    return x\n"},
        {"task_id": "T/9", "completion": "    return 0\n"},  # unknown task
        "{not json",
        {"task_id": "T/1", "solution": "def dec(x):\n    return x - 1\n"},  # a whole program
    ])
    samples = load_samples(path, _problems())
    assert samples.layout == "humaneval"
    assert len(samples.errors) == 2
    assert any(":3: unknown task id 'T/9'" in e for e in samples.errors) and any(":4: not valid JSON" in e for e in samples.errors)
    assert samples.completions == {"T/0": ["    return x + 1\n", "    return x\n"], "T/1": ["    return x - 1\n"]}


def test_codet_layout_matches_rows_by_lexicographic_order_and_checks_the_entry_point(tmp_path):
    rows = [{"prompt": "def inc(x):\n", "samples": ["    return x + 1\n"] * 2},
            {"prompt": "def dec(x):\n", "samples": ["    return x + 1\n"]}]
    assert load_samples(_write(tmp_path / "a.jsonl", rows), _problems()).completions["T/1"] == ["    return x + 1\n"]
    swapped = load_samples(_write(tmp_path / "b.jsonl", rows[::-1]), _problems())
    assert swapped.completions == {} and "defines 'dec', not 'inc'" in swapped.errors[0]


def test_codeprm_layout_and_unknown_layouts(tmp_path):
    rows = [{"problem_id": "T/0", "sample_index": 0, "completion": "    return x + 1\n", "passed": True}]
    assert load_samples(_write(tmp_path / "c.jsonl", rows), _problems()).layout == "codeprm"
    with pytest.raises(CodeprmError, match="no row is in a known layout"):
        load_samples(_write(tmp_path / "d.jsonl", [{"id": 1}]), _problems())
    with pytest.raises(CodeprmError, match="several layouts"):
        load_samples(_write(tmp_path / "e.jsonl", rows + [{"task_id": "T/0", "completion": ""}]), _problems())


def test_pass_at_ks_only_for_k_every_problem_has():
    scores = pass_at_ks({"a": (2, 1), "b": (2, 2)}, [1, 2, 5])
    assert scores == {"pass@1": pytest.approx(0.75), "pass@2": pytest.approx(1.0)}


def test_judge_runs_each_distinct_program_once_and_writes_rows(tmp_path):
    from codeprm.sandbox import Sandbox

    path = _write(tmp_path / "s.jsonl", [{"task_id": "T/0", "completion": c} for c in
                                        ["    return x + 1\n", "    return x + 1\n", "    while True: pass\n"]])
    samples = load_samples(path, [p.model_copy(update={"time_limit_s": 0.2}) for p in _problems()])
    with Sandbox(workers=2) as sandbox:
        summary = judge(samples, sandbox, [1, 2], out=tmp_path / "out")
    assert summary["samples"] == 3 and summary["distinct_programs"] == 2
    assert summary["per_problem"] == {"T/0": [3, 2]}
    assert summary["pass_at_k"]["pass@1"] == pytest.approx(2 / 3)
    assert summary["statuses"] == {"pass": 2, "timeout": 1}  # a hang is that sample failing, not an error
    rows = [json.loads(line) for line in (tmp_path / "out" / "judged.jsonl").read_text().splitlines()]
    assert [r["passed"] for r in rows] == [True, True, False]


def test_humaneval_x_samples_layout_is_judged_in_its_language(tmp_path):
    import shutil

    from codeprm.problems import load_benchmark
    from codeprm.sandbox import Sandbox

    if shutil.which("g++") is None:
        pytest.skip("g++ is not installed (Debian package g++)")
    try:
        problems = load_benchmark("humaneval-x:cpp")[:1]
    except CodeprmError as exc:
        pytest.skip(str(exc))
    good = problems[0].reference
    path = _write(tmp_path / "s.jsonl", [{"task_id": "CPP/0", "generation": g}  # CodeGeeX's field name
                                        for g in [good, good.replace("<threshold", ">threshold")]])
    samples = load_samples(path, problems)
    with Sandbox(workers=2) as sandbox:
        summary = judge(samples, sandbox, [1])
        # the harness runs in the program's process: its pass is unverified unless asked for by name
        assert summary["statuses"] == {"unverified": 1, "fail": 1} and summary["pass_at_k"]["pass@1"] == 0.0
        opted = judge(samples, sandbox, [1], count_untrusted=True)
    assert opted["statuses"] == {"pass": 1, "fail": 1} and opted["pass_at_k"]["pass@1"] == 0.5
