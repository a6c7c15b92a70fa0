"""HumanEval conversion: every reference passes its converted tests, wrong programs fail them, and the
converted tests agree with the original ``check(candidate)`` on programs that are wrong in subtle ways.

Programs run in a plain subprocess checker written here (not the sandbox, which is tested on its own):
call tests compare with ``==`` as HumanEval's asserts do; assert tests run in the program's namespace
with ``candidate`` bound, after ``test_setup``.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import textwrap

import pytest

from codeprm.errors import CodeprmError
from codeprm.problems import Problem, TestCase, load_benchmark
from codeprm.problems.humaneval import conversion_stats, convert_row, humaneval_path, load_humaneval, parse_selection

# Runs in a child: for each item, the program, then its tests (converted) or the original check.
_CHILD = textwrap.dedent(
    """
    import copy, json, sys
    from codeprm.problems.model import Problem

    def run(item):
        problem = Problem.model_validate(item["problem"])
        ns = {"__name__": "__candidate__"}
        exec(compile(item["program"], "<program>", "exec"), ns)
        entry = ns[problem.entry_point]
        if item["original"] is not None:  # HumanEval's own way: test code, then check(entry)
            try:
                exec(item["original"], ns)
                ns["check"](entry)
                return [True]
            except BaseException:
                return [False]
        exec(problem.test_setup, ns)
        ns["candidate"] = entry
        verdicts = []
        for test in problem.tests:
            try:
                if test.kind == "call":
                    got = entry(*copy.deepcopy(test.args), **copy.deepcopy(test.kwargs))
                    verdicts.append(bool(got == test.expected))
                else:
                    exec(test.code, ns)
                    verdicts.append(True)
            except BaseException:
                verdicts.append(False)
        return verdicts

    items = json.load(open(sys.argv[1]))
    json.dump([run(item) for item in items], open(sys.argv[2], "w"))
    """
)


def run_items(tmp_path, items: list[tuple[Problem, str, str | None]]) -> list[list[bool]]:
    """Verdicts per item (problem, program, original test code or None for the converted tests)."""
    src, dst = tmp_path / "items.json", tmp_path / "verdicts.json"
    src.write_text(json.dumps([{"problem": json.loads(p.model_dump_json()), "program": prog, "original": orig} for p, prog, orig in items]))
    subprocess.run([sys.executable, "-c", _CHILD, str(src), str(dst)], check=True, timeout=300, capture_output=True)
    return json.loads(dst.read_text())


@pytest.fixture(scope="module")
def problems() -> list[Problem]:
    return load_humaneval()


@pytest.fixture(scope="module")
def originals() -> dict[str, str]:
    with gzip.open(humaneval_path(), "rt") as fh:
        return {row["task_id"]: row["test"] for row in map(json.loads, fh)}


def test_loads_all_164_with_references(problems):
    assert len(problems) == 164
    assert len({p.id for p in problems}) == 164
    for p in problems:
        assert p.style == "completion" and p.source == "humaneval" and p.reference and p.entry_point
        assert p.tests, p.id
        assert f"def {p.entry_point}" in p.prompt


def test_conversion_counts_are_consistent(problems):
    stats = conversion_stats(problems)
    assert stats["problems"] == 164
    fully = [p.id for p in problems if all(t.kind == "call" for t in p.tests)]
    assert stats["fully_call_based"] == len(fully)
    # Most checks are plain literal asserts; the known exceptions stay assert tests.
    assert stats["fully_call_based"] >= 140
    for pid in ["HumanEval/2", "HumanEval/32", "HumanEval/38", "HumanEval/50", "HumanEval/72"]:
        assert pid not in fully


def test_literal_forms_become_call_tests(problems):
    by_id = {p.id: p for p in problems}
    # HumanEval/8: `(3 + 5 + 7, 3 * 5 * 7)` is folded into a tuple, not left as an assert.
    assert TestCase.call(args=[[3, 5, 7]], expected=(15, 105)) in by_id["HumanEval/8"].tests
    # HumanEval/136: tuples with None; HumanEval/90: `[1, 0**0]` and `== None`.
    assert TestCase.call(args=[[]], expected=(None, None)) in by_id["HumanEval/136"].tests
    assert TestCase.call(args=[[1, 1]], expected=None) in by_id["HumanEval/90"].tests
    assert TestCase.call(args=[[1, 1]], expected=None) in by_id["HumanEval/90"].tests
    # HumanEval/2: the exact-float assert converts, the abs(...) < 1e-6 ones do not.
    kinds = [t.kind for t in by_id["HumanEval/2"].tests]
    assert kinds == ["call", "assert", "assert"]
    # `assert True` tests nothing and is dropped rather than kept as a free pass.
    assert all(t.code.strip() != "assert True" for p in problems for t in p.tests)


def test_assert_tests_carry_their_context(problems):
    by_id = {p.id: p for p in problems}
    (loop,) = [t for t in by_id["HumanEval/53"].tests if t.kind == "assert"]
    assert "import random" in loop.code and "for i in range(100)" in loop.code
    (t151,) = [t for t in by_id["HumanEval/151"].tests if t.kind == "assert"]
    assert "lst = list(range(-99, 100, 2))" in t151.code and "odd_sum" in t151.code
    # HumanEval/38 binds `str` inside check; its test must not rebind the program's globals.
    (t38,) = by_id["HumanEval/38"].tests
    compile(t38.code, "<t38>", "exec")
    assert t38.code.startswith("def _codeprm_check():")


def test_every_reference_passes_its_converted_tests(tmp_path, problems):
    verdicts = run_items(tmp_path, [(p, p.reference_program, None) for p in problems])
    failing = [p.id for p, v in zip(problems, verdicts) if not all(v)]
    assert failing == []


def test_return_none_fails_every_problem(tmp_path, problems):
    items = [(p, p.prompt + "    return None\n", None) for p in problems]
    verdicts = run_items(tmp_path, items)
    passing = [p.id for p, v in zip(problems, verdicts) if all(v)]
    assert passing == []


# Subtly wrong variants of the reference: the converted tests must reach the same pass/fail as the
# original check() on each, which they cannot if a conversion loosened or tightened a comparison.
_VARIANTS = {
    # list <-> tuple, bool -> int, int -> float: what `==` tolerates and `is` / tuple() do not
    "flip_types": """
def _flip(v):
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return float(v)
    if isinstance(v, list):
        return tuple(v)
    if isinstance(v, tuple):
        return list(v)
    return v
""",
    # always answers what the first call got
    "first_answer": """
_seen = []
def _flip(v):
    if not _seen:
        _seen.append(v)
    return _seen[0]
""",
}


@pytest.mark.parametrize("variant", sorted(_VARIANTS))
def test_converted_tests_agree_with_original_check(tmp_path, problems, originals, variant):
    items = []
    for p in problems:
        wrapper = f"\n{_VARIANTS[variant]}\n_real = {p.entry_point}\ndef {p.entry_point}(*a, **k):\n    return _flip(_real(*a, **k))\n"
        program = p.reference_program + wrapper
        items += [(p, program, None), (p, program, originals[p.id])]
    verdicts = run_items(tmp_path, items)
    disagree = [p.id for i, p in enumerate(problems) if all(verdicts[2 * i]) != all(verdicts[2 * i + 1])]
    assert disagree == []
    # and the variants are really wrong somewhere, so the agreement means something
    assert sum(not all(verdicts[2 * i]) for i in range(len(problems))) > 50


def test_selection():
    assert parse_selection("0-2,5,1", 164) == [0, 1, 2, 5]
    assert [p.id for p in load_benchmark("humaneval:3,10-11")] == ["HumanEval/3", "HumanEval/10", "HumanEval/11"]
    for bad in ["5-2", "x", "0-164", "-1"]:
        with pytest.raises(CodeprmError):
            parse_selection(bad, 164)


def test_convert_row_handles_reversed_comparison_and_kwargs():
    row = {
        "task_id": "T/0",
        "prompt": "def f(a, b=0):\n",
        "entry_point": "f",
        "canonical_solution": "    return a + b\n",
        "test": "import math\n\ndef check(candidate):\n    assert 3 == candidate(1, b=2)\n    assert candidate(-1) == -1\n"
        "    assert math.isclose(candidate(0.1, b=0.2), 0.3)\n    assert True\n",
    }
    p = convert_row(row)
    assert p.tests[:2] == [TestCase.call(args=[1], kwargs={"b": 2}, expected=3), TestCase.call(args=[-1], expected=-1)]
    assert p.tests[2].kind == "assert" and len(p.tests) == 3
    assert p.test_setup == "import math"  # module-level imports the asserts need


def test_problems_cli_convert_roundtrips(tmp_path):
    from typer.testing import CliRunner

    from codeprm.cli import app

    runner = CliRunner()
    out = tmp_path / "he.jsonl"
    res = runner.invoke(app, ["problems", "convert", "humaneval:0-9", str(out)])
    assert res.exit_code == 0, res.output
    assert load_benchmark(f"jsonl:{out}") == load_humaneval("0-9")
    res = runner.invoke(app, ["problems", "show", "humaneval", "--id", "HumanEval/53"])
    assert res.exit_code == 0 and "for i in range(100)" in res.output and "add(0, 1) == 1" in res.output
