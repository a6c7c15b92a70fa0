"""MBPP from a local copy: ``mbpp:PATH``. Asserts with literal arguments become call tests."""

from __future__ import annotations

import ast
import re
from typing import Any

from codeprm.errors import CodeprmError
from codeprm.problems.asserts import convert_statements
from codeprm.problems.local import field, load_rows, normalise
from codeprm.problems.model import Problem, TestCase

def load_mbpp(arg: str) -> list[Problem]:
    """MBPP (``text``/``prompt``, ``code``, ``test_list``, ``test_setup_code``/``test_imports``, ``task_id``)."""
    return load_rows(arg, "mbpp", mbpp_problem)


def mbpp_problem(row: dict[str, Any], where: str) -> Problem:
    text = field(row, "text", "prompt", where=where)
    code = normalise(field(row, "code", where=where))
    tests = [normalise(t) for t in field(row, "test_list", where=where)]
    setup = row.get("test_setup_code") or "\n".join(row.get("test_imports") or [])
    if not tests:
        raise CodeprmError(f"{where}: field 'test_list' is empty")
    entry = _mbpp_entry_point(code, tests)
    source = "\n".join(tests)
    try:
        body = ast.parse(source).body
        converted = convert_statements(source, body, {entry} if entry else set()).tests
    except (SyntaxError, ValueError):  # a test Python 3 cannot parse: keep the text, the sandbox reports it
        converted = [TestCase.assert_(t) for t in tests]
    prompt = f"{text.strip()}\nYour code should pass this test:\n\n{tests[0].strip()}\n"
    return Problem(
        id=f"mbpp/{row.get('task_id', where)}",
        prompt=prompt,
        entry_point=entry,
        tests=converted,
        reference=code,
        test_setup=normalise(setup),
        style="instruct",
        source="mbpp",
    )


def _mbpp_entry_point(code: str, tests: list[str]) -> str | None:
    """The function the tests call that the reference defines (the first test decides ties)."""
    try:
        defined = {n.name for n in ast.parse(code).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    except (SyntaxError, ValueError):
        defined = set(re.findall(r"^def\s+(\w+)", code, re.M))
    for test in tests:
        try:
            called = [n.func.id for n in ast.walk(ast.parse(test)) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
        except (SyntaxError, ValueError):
            called = re.findall(r"(\w+)\s*\(", test)
        for name in called:
            if name in defined:
                return name
    return None
