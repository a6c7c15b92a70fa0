"""``humaneval:PATH``: any file in HumanEval's layout, MBPP's copy included."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from codeprm.errors import CodeprmError
from codeprm.problems import load_benchmark
from codeprm.problems.humaneval_layout import fit_reference, layout_problem, unbound_modules

MBPP = Path(__file__).resolve().parents[5] / "shared" / "data" / "mbpp_sanitized_humaneval_format.jsonl"

ROW = {
    "task_id": "Demo/1",
    "prompt": "def add(a, b):\n    '''Add.'''\n",
    "entry_point": "add ",
    "canonical_solution": "  return a + b\n",
    "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert add(2, 2) == 4\n    assert math.isclose(add(0.1, 0.2), 0.3)\n",
}


def test_row_converts_calls_by_either_name_and_imports_what_tests_use(tmp_path):
    path = tmp_path / "demo.jsonl"
    path.write_text(json.dumps(ROW) + "\n" + json.dumps({**ROW, "task_id": "Demo/2", "test": "x = 1\n"}) + "\n")
    problems = load_benchmark(f"humaneval:{path}")
    assert [p.id for p in problems] == ["Demo/1"]  # the second row has no check: skipped, the rest kept
    p = problems[0]
    assert p.entry_point == "add"
    assert [t.kind for t in p.tests] == ["call", "call", "assert"]
    assert p.tests[1].args == [2, 2] and p.tests[1].expected == 4
    assert p.test_setup == "import math"
    assert p.reference == "    return a + b\n"  # two-space body moved under the four-space docstring
    compile(p.prompt + p.reference, "<ref>", "exec")


def test_selection_still_selects_from_the_wheel():
    assert [p.id for p in load_benchmark("humaneval:0-2")] == ["HumanEval/0", "HumanEval/1", "HumanEval/2"]


def test_missing_file_and_bad_rows_name_what_is_wrong(tmp_path):
    with pytest.raises(CodeprmError, match="no such file"):
        load_benchmark(f"humaneval:{tmp_path / 'nope.jsonl'}")
    with pytest.raises(CodeprmError, match="field 'entry_point'"):
        layout_problem({**ROW, "entry_point": ""}, "row 3")
    with pytest.raises(CodeprmError, match="parameter is 'f'"):
        layout_problem({**ROW, "test": "def check(f):\n    assert f(1, 1) == 2\n"}, "row 4")


def test_fit_reference_handles_tabs_helpers_and_leaves_good_code_alone():
    prompt = "def f(x):\n    '''Doc.'''\n"
    assert fit_reference(prompt, "    return x\n") == "    return x\n"
    tabbed = "\tif x:\n\t\treturn g(x)\n\treturn 0\ndef g(y):\n\treturn y\n"
    fitted = fit_reference(prompt, tabbed)
    assert fitted.startswith("    if x:\n        return g(x)\n    return 0\ndef g(y):\n")
    ns: dict = {}
    exec(prompt + fitted, ns)
    assert ns["f"](3) == 3 and ns["f"](0) == 0
    broken = "    return (\n"  # a real syntax error is not an indentation problem: kept as is
    assert fit_reference(prompt, broken) == broken


def test_unbound_modules_ignores_names_the_code_binds():
    import ast

    tree = ast.parse("import re\ndef check(candidate):\n    math = 1\n    assert re.match('a', candidate(collections))\n")
    assert unbound_modules(tree) == ["collections"]


@pytest.mark.skipif(not MBPP.is_file(), reason=f"shared data not found at {MBPP} (see /work/shared/data/README.md)")
def test_mbpp_in_humaneval_layout_loads_every_row():
    problems = load_benchmark(f"humaneval:{MBPP}")
    assert len(problems) == 427
    assert all(p.reference and p.tests for p in problems)
    with warnings.catch_warnings():  # MBPP's own code has invalid escape sequences
        warnings.simplefilter("ignore", SyntaxWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        for p in problems:  # every reference compiles under its prompt after re-indentation
            compile(p.prompt + p.reference, p.id, "exec")


@pytest.mark.slow
@pytest.mark.skipif(not MBPP.is_file(), reason=f"shared data not found at {MBPP} (see /work/shared/data/README.md)")
def test_mbpp_references_pass_in_the_sandbox_except_known_ones():
    from codeprm.programs import program_text
    from codeprm.sandbox import Sandbox

    problems = load_benchmark(f"humaneval:{MBPP}")
    with Sandbox() as sandbox:
        results = sandbox.run_many([(program_text(p, p.reference), p) for p in problems])
    failing = {p.id: r.status for p, r in zip(problems, results) if not r.passed}
    # MbppEval/56: the entry point `check` is defined after the prompt's function `rev`, and the program
    # rule cuts the completion where `rev` ends. MbppEval/88 returns a collections.Counter, which the
    # sandbox refuses as a return value (builtin values only). MbppEval/123 (amicable numbers below 9999)
    # needs close to the 3 s CPU limit: it passed on a quiet machine and timed out on a loaded one.
    assert {"MbppEval/56": "runtime_error", "MbppEval/88": "fail"}.items() <= failing.items()
    assert set(failing) <= {"MbppEval/56", "MbppEval/88", "MbppEval/123"}
