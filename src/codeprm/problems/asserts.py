"""Turn benchmark test code (``assert f(...) == ...`` lines, HumanEval's ``check``) into TestCases.

An assert of the form ``f(<literals>) == <literal>`` (either side) becomes a trusted ``call`` test: the
sandbox compares the returned value with ``==`` outside the child, exactly what the assert did. Every
other statement that tests something stays an ``assert`` test holding its own source. Statements that
test nothing (imports, assignments, bare names) are *context*: each assert test carries the context that
preceded it, so it runs alone. Assert code that binds names is wrapped in a function so it never
overwrites the program's globals (HumanEval/38 assigns ``str = ...`` inside ``check``).
"""

from __future__ import annotations

import ast
import math
import operator
import textwrap
from dataclasses import dataclass, field
from typing import Any

from codeprm.problems.model import TestCase

_MISSING = object()
_BINOPS = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_, ast.Invert: operator.invert}
_MAX_SIZE = 100_000  # refuse to fold an expression into a value bigger than this (a str/list length, int digits)
WRAPPER = "_codeprm_check"


def literal_value(node: ast.AST) -> Any:
    """The value of a literal expression, with constant arithmetic folded (``3 * 19``, ``'ab' + 'c'``,
    ``-0``, ``0**0``); ``_MISSING`` when the expression is not a literal. Never evaluates a name or call."""
    try:
        return _fold(node)
    except (_NotLiteral, ArithmeticError, TypeError, ValueError, RecursionError):
        return _MISSING


class _NotLiteral(Exception):
    pass


def _fold(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant):
        if node.value is Ellipsis:
            raise _NotLiteral
        return node.value
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        items = [_fold(e) for e in node.elts if not isinstance(e, ast.Starred) or _raise()]
        return {ast.List: list, ast.Tuple: tuple, ast.Set: set}[type(node)](items)
    if isinstance(node, ast.Dict):
        if any(k is None for k in node.keys):  # {**other}
            raise _NotLiteral
        return {_fold(k): _fold(v) for k, v in zip(node.keys, node.values)}
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_fold(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        left, right = _fold(node.left), _fold(node.right)
        _check_size(node.op, left, right)
        return _BINOPS[type(node.op)](left, right)
    raise _NotLiteral


def _raise() -> bool:
    raise _NotLiteral


def _check_size(op: ast.operator, left: Any, right: Any) -> None:
    # Keep folding cheap: 10**10**10 or 'a' * 10**9 in test code must not hang the loader.
    if isinstance(op, ast.Pow) and isinstance(right, (int, float)) and isinstance(left, (int, float)):
        if abs(right) > 1000 and abs(left) > 1:
            raise _NotLiteral
    if isinstance(op, ast.Mult):
        for seq, n in ((left, right), (right, left)):
            if isinstance(seq, (str, bytes, list, tuple)) and isinstance(n, int) and len(seq) * max(n, 0) > _MAX_SIZE:
                raise _NotLiteral
        if isinstance(left, int) and isinstance(right, int) and math.log2(abs(left) + 1) + math.log2(abs(right) + 1) > 4 * _MAX_SIZE:
            raise _NotLiteral


def call_test(test: ast.expr, callees: set[str]) -> TestCase | None:
    """A call test for ``f(<literals>) == <literal>`` or ``<literal> == f(<literals>)`` where ``f`` is one
    of ``callees``; None for anything else."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return None
    for call, other in ((test.left, test.comparators[0]), (test.comparators[0], test.left)):
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in callees):
            continue
        return literal_call(call, literal_value(other))
    return None


def literal_call(call: ast.Call, expected: Any) -> TestCase | None:
    """A call test of ``call`` expecting ``expected``; None when ``expected`` is ``_MISSING`` or an
    argument is not a literal (or is starred, ``*xs`` / ``**kw``)."""
    if expected is _MISSING or any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
        return None
    args = [literal_value(a) for a in call.args]
    kwargs = {k.arg: literal_value(k.value) for k in call.keywords}
    if _MISSING in (*args, *kwargs.values()):
        return None
    return TestCase.call(args=args, kwargs=kwargs, expected=expected)


def is_trivial(stmt: ast.stmt) -> bool:
    """``assert True`` (or any truthy constant): it tests nothing, so a test made from it would hand every
    program that loads a free pass."""
    if not isinstance(stmt, ast.Assert):
        return False
    value = literal_value(stmt.test)
    return value is not _MISSING and bool(value)


def contains_assert(stmt: ast.stmt) -> bool:
    return any(isinstance(n, ast.Assert) for n in ast.walk(stmt))


def _binds_names(stmts: list[ast.stmt]) -> bool:
    for stmt in stmts:
        for n in ast.walk(stmt):
            if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
                return True
            if isinstance(n, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                              ast.Global, ast.Nonlocal, ast.ExceptHandler, ast.MatchAs, ast.MatchStar)):
                return True
    return False


def segment(source: str, node: ast.AST) -> str:
    text = ast.get_source_segment(source, node, padded=True)
    if text is None:  # source and tree disagree; fall back to the unparsed node
        return ast.unparse(node)
    return textwrap.dedent(text)


def assert_code(source: str, context: list[ast.stmt], stmt: ast.stmt) -> str:
    """Source of an assert test: the context it needs, then the statement; wrapped in a function when it
    binds names, so the test leaves the program's namespace alone."""
    lines = [segment(source, s) for s in [*context, stmt]]
    code = "\n".join(lines)
    if not _binds_names([*context, stmt]):
        return code
    return f"def {WRAPPER}():\n{textwrap.indent(code, '    ')}\n{WRAPPER}()"


@dataclass
class Converted:
    """Tests made from a block of test statements."""

    tests: list[TestCase] = field(default_factory=list)
    dropped: int = 0  # trivial asserts that tested nothing

    @property
    def n_call(self) -> int:
        return sum(t.kind == "call" for t in self.tests)

    @property
    def n_assert(self) -> int:
        return sum(t.kind == "assert" for t in self.tests)


def convert_statements(source: str, body: list[ast.stmt], callees: set[str]) -> Converted:
    """Tests from ``body`` (statements of ``source``), in order. Asserts on ``callees`` with literal
    arguments become call tests; other asserts, and compound statements containing asserts (loops),
    become assert tests carrying the non-test statements seen before them."""
    out = Converted()
    context: list[ast.stmt] = []
    for stmt in body:
        if isinstance(stmt, ast.Assert):
            if is_trivial(stmt):
                out.dropped += 1
                continue
            test = call_test(stmt.test, callees)
            out.tests.append(test if test is not None else TestCase.assert_(assert_code(source, context, stmt)))
        elif contains_assert(stmt):
            out.tests.append(TestCase.assert_(assert_code(source, context, stmt)))
        elif not _is_noop(stmt):
            context.append(stmt)
    return out


def _is_noop(stmt: ast.stmt) -> bool:
    # `print` (HumanEval/129), docstrings, `pass`: expression statements of a bare name or constant.
    if isinstance(stmt, ast.Pass):
        return True
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, (ast.Name, ast.Constant))
