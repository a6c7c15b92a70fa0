"""Tests from a pytest module (KodCode's ``test`` field), for code that comes ``from solution import``.

``from solution import f`` / ``import solution`` are dropped or bound to the program's own namespace, since
assert tests run there. pytest itself is replaced by the shim in :mod:`codeprm.problems.pytest_shim`.
"""

from __future__ import annotations

import ast
import logging
import textwrap

from codeprm.problems.asserts import convert_statements, literal_value, segment
from codeprm.problems.model import TestCase
from codeprm.problems.pytest_shim import shim_source

log = logging.getLogger(__name__)


def _is_solution_import(stmt: ast.stmt) -> bool:
    if isinstance(stmt, ast.ImportFrom):
        return stmt.module == "solution"
    return isinstance(stmt, ast.Import) and any(a.name == "solution" for a in stmt.names)


def pytest_module_tests(source: str, tree: ast.Module, functions: set[str] = frozenset()) -> tuple[list[TestCase], str]:
    """Tests and setup from a pytest module whose code under test comes ``from solution import ...``.

    ``functions``: names under test (KodCode's test_info). The imported names are the program's own (assert tests run in its namespace). A ``test_*`` function
    made only of literal asserts becomes call tests; any other becomes an assert test that defines and
    calls it, expanding ``@pytest.mark.parametrize`` with literal values. Tests that need fixtures are
    skipped. Other module-level code (imports, helpers) becomes ``test_setup``.
    """
    # `from solution import *` names nothing: the functions under test then come from test_info
    callees = {a.asname or a.name for s in tree.body if isinstance(s, ast.ImportFrom) and s.module == "solution" for a in s.names} - {"*"}
    callees |= set(functions)
    uses_module = any(isinstance(s, ast.Import) and any(a.name == "solution" for a in s.names) for s in tree.body)
    setup: list[str] = ["import types as _types", "solution = _types.SimpleNamespace(**globals())"] if uses_module else []
    tests: list[TestCase] = []
    skipped = 0
    pytest_names: list[tuple[str, str]] = []
    for stmt in tree.body:
        if _is_solution_import(stmt):
            continue
        if _is_pytest_import(stmt):  # replaced by the shim: the sandbox cannot import pytest
            pytest_names += _pytest_bindings(stmt)
            continue
        if isinstance(stmt, ast.ClassDef) and stmt.name.startswith("Test"):
            skipped += 1  # test classes need pytest's collection; rare in KodCode
            continue
        if not (isinstance(stmt, ast.FunctionDef) and stmt.name.startswith("test")):
            setup.append(segment(source, stmt) if not getattr(stmt, "decorator_list", None) else _with_decorators(source, stmt))
            continue
        params = _parametrize(stmt)
        needs = [a.arg for a in stmt.args.args]
        if needs and params is None:
            skipped += 1  # fixtures
            continue
        if not needs:
            converted = convert_statements(source, stmt.body, callees)
            if converted.tests and all(t.kind == "call" for t in converted.tests) and not _has_context(stmt):
                tests += converted.tests
                continue
        code = segment(source, stmt)  # the def without its decorators
        call = f"{stmt.name}()" if params is None else f"for _args in {params!r}:\n    {stmt.name}(*_args)"
        tests.append(TestCase.assert_(f"{code}\n{call}"))
    if skipped:
        log.info("kodcode: skipped %d tests that need pytest fixtures or classes", skipped)
    if pytest_names:
        setup.insert(0, shim_source(pytest_names).rstrip())
    return tests, "\n".join(setup)


def _is_pytest_import(stmt: ast.stmt) -> bool:
    if isinstance(stmt, ast.ImportFrom):
        return stmt.module == "pytest"
    return isinstance(stmt, ast.Import) and all(a.name == "pytest" for a in stmt.names)


def _pytest_bindings(stmt: ast.Import | ast.ImportFrom) -> list[tuple[str, str]]:
    if isinstance(stmt, ast.Import):
        return [(a.asname or "pytest", "") for a in stmt.names]
    return [(a.asname or a.name, a.name) for a in stmt.names]


def _has_context(fn: ast.FunctionDef) -> bool:
    return any(not isinstance(s, ast.Assert) for s in fn.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)))


def _with_decorators(source: str, stmt: ast.stmt) -> str:
    lines = source.splitlines()
    first = min([stmt.lineno, *(d.lineno for d in stmt.decorator_list)])
    return textwrap.dedent("\n".join(lines[first - 1 : stmt.end_lineno]))


def _parametrize(fn: ast.FunctionDef) -> list[tuple] | None:
    """Argument tuples of ``@pytest.mark.parametrize("a,b", [...])`` with literal values, else None."""
    for dec in fn.decorator_list:
        if isinstance(dec, ast.Call) and ast.unparse(dec.func).endswith("mark.parametrize") and len(dec.args) >= 2:
            names, values = literal_value(dec.args[0]), literal_value(dec.args[1])
            if not isinstance(values, (list, tuple)):
                return None
            n = len(names) if isinstance(names, (list, tuple)) else len([x for x in str(names).split(",") if x.strip()])
            if n != len(fn.args.args):
                return None
            return [tuple(v) if n > 1 else (v,) for v in values]
    return None

