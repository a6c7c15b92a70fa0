"""KodCode from a local copy: ``kodcode:PATH``.

Its pytest modules run without pytest (see :mod:`codeprm.problems.pytest_tests`); tests that need
fixtures are skipped.
"""

from __future__ import annotations

import ast
from typing import Any

from codeprm.errors import CodeprmError
from codeprm.problems.local import field, json_field, load_rows, normalise
from codeprm.problems.model import Problem
from codeprm.problems.pytest_tests import pytest_module_tests

def load_kodcode(arg: str) -> list[Problem]:
    """KodCode (``question``, ``solution``, ``test`` as pytest code importing from ``solution``,
    ``test_info`` with ``function_name``)."""
    return load_rows(arg, "kodcode", kodcode_problem)


def kodcode_problem(row: dict[str, Any], where: str) -> Problem | None:
    question = field(row, "question", where=where)
    solution = normalise(field(row, "solution", where=where))
    test_src = normalise(field(row, "test", where=where))
    info = row.get("test_info") or []
    if isinstance(info, str):
        info = json_field(info, where, "test_info") or []
    entry = next((i.get("function_name") for i in info if i.get("function_name")), None)
    try:
        tree = ast.parse(test_src)
    except (SyntaxError, ValueError) as exc:
        raise CodeprmError(f"{where}: field 'test' does not parse (line {getattr(exc, 'lineno', '?')}: {getattr(exc, 'msg', exc)})") from None
    tests, setup = pytest_module_tests(test_src, tree, {i["function_name"] for i in info if i.get("function_name")})
    if not tests:
        return None
    entry = entry or _first_imported(tree)
    declaration = next((i.get("function_declaration") for i in info if i.get("function_declaration")), None)
    hint = f"\n\nUse this signature:\n{declaration.strip()}\n" if declaration else "\n"
    return Problem(
        id=f"kodcode/{row.get('question_id', where)}",
        prompt=question.strip() + hint,
        entry_point=entry,
        tests=tests,
        reference=solution,
        test_setup=setup,
        style="instruct",
        source="kodcode",
    )


def _first_imported(tree: ast.Module) -> str | None:
    for stmt in tree.body:
        if isinstance(stmt, ast.ImportFrom) and stmt.module == "solution":
            return stmt.names[0].name
    return None
