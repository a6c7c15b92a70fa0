"""Assert tests judged on the host: the program's calls run in the child, the rest of the assert here.

The test author's assert is trusted, the program's values are not. ``split`` cuts an assert such as
``assert abs(candidate(1.33) - 0.33) < 1e-6`` into the calls into the program (``candidate(1.33)``,
literal arguments only) and the rest (``abs(_codeprm_v0 - 0.33) < 1e-6``). The child runs the calls and sends
their values back as plain builtin data (jail/wire.py); ``judge`` evaluates the rest in this process
over those values. So no method of an object of the program's runs here or decides a verdict, and the
child never sees the assert (so it cannot learn the expected value from it).

The rest may use only comparisons, boolean logic, a few builtins on the values (``abs len tuple list
sorted set ...``) and arithmetic that stays linear in the values' size (no ``*``, ``**`` or ``<<``
with a value on either side: ``[0] * candidate()`` would let a returned int size an allocation here).
An assert that does not fit (loops, helpers the program defines, calls with computed arguments, nested
calls) is not split: it runs in the child as before, and its verdict is marked untrusted.
Every call in the assert runs, in source order (short-circuiting of ``and``/``or`` is not mirrored).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

from codeprm.problems.asserts import _MISSING, literal_value
from codeprm.sandbox.jail import wire

def _guarded(kind):
    def build(*args):
        if len(args) == 1 and type(args[0]) in (list, tuple, set, frozenset, dict, str, bytes):
            wire.check_hashes(list(args[0]))
        return kind(*args)
    return build


def _sum(values):  # one argument only: sum(lists, []) would be quadratic
    return sum(values)


def _round(number, ndigits=None):  # round(x, -10**6) would build 10**(10**6)
    if type(ndigits) is int and abs(ndigits) > 10_000:
        raise ValueError("ndigits too large")
    return round(number, ndigits)


def _str(value=""):  # decimal text of a huge int is quadratic whatever the interpreter's digit limit
    if type(value) is int and value.bit_length() > 14_000:
        raise ValueError("int too large to convert to text")
    return str(value)


def _int(value=0):
    if type(value) in (str, bytes) and len(value) > 4300:
        raise ValueError("text too long to convert to int")
    return int(value)


SAFE_FUNCS: dict[str, Any] = {
    "abs": abs, "len": len, "tuple": tuple, "list": list, "sorted": sorted, "round": _round, "bool": bool,
    "int": _int, "float": float, "str": _str, "min": min, "max": max, "all": all, "any": any, "type": type,
    "isinstance": isinstance, "reversed": reversed, "sum": _sum, "set": _guarded(set),
    "frozenset": _guarded(frozenset), "complex": complex,
}
_CONSTS = {"True", "False", "None"}
_PREFIX = "_codeprm_v"  # the placeholder of call k is _codeprm_v<k>
_OPS = (ast.Add, ast.Sub, ast.Div, ast.FloorDiv)  # linear in their operands' size
# sized by a value (``[0] * v``, ``"%09999999d" % x``): only between constants
_COSTLY_OPS = (ast.Mult, ast.Mod, ast.Pow, ast.LShift, ast.RShift, ast.BitAnd, ast.BitOr, ast.BitXor, ast.MatMult)


@dataclass(frozen=True)
class Split:
    calls: list[tuple[list, dict]]  # literal (args, kwargs) of each call into the program, in source order
    rest: Any  # code object of the rest of the assert, reading _codeprm_v0, _codeprm_v1, ...
    source: str


def split(code: str, entry_point: str) -> Split | None:
    """The calls and the rest of a single ``assert``; None when it cannot be judged on the host."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError):
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert) or _has_value(tree):
        return None  # (a name of the test's own that looks like a placeholder: not split)
    names = {"candidate", entry_point}
    calls: list[tuple[list, dict]] = []

    class Cut(ast.NodeTransformer):
        def visit_Call(self, node: ast.Call):
            if isinstance(node.func, ast.Name) and node.func.id in names:
                if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
                    raise _NoSplit
                args = [literal_value(a) for a in node.args]
                kwargs = {k.arg: literal_value(k.value) for k in node.keywords}
                if _MISSING in (*args, *kwargs.values()):
                    raise _NoSplit
                calls.append((args, kwargs))
                return ast.copy_location(ast.Name(id=f"{_PREFIX}{len(calls) - 1}", ctx=ast.Load()), node)
            return self.generic_visit(node)

    try:
        rest = Cut().visit(tree.body[0].test)
        if not calls or not _allowed(rest, len(calls)):
            return None
        for args, kwargs in calls:
            wire.to_tree(list(args)), wire.to_tree(dict(kwargs))
        expr = ast.fix_missing_locations(ast.Expression(body=rest))
        return Split(calls=calls, rest=compile(expr, "<assert>", "eval", dont_inherit=True), source=code)
    except (_NoSplit, wire.Unencodable, SyntaxError, ValueError, RecursionError):
        return None


class _NoSplit(Exception):
    pass


def _has_value(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Name) and n.id.startswith(_PREFIX) for n in ast.walk(node))


def _allowed(node: ast.AST, n_values: int) -> bool:
    placeholders = {f"{_PREFIX}{k}" for k in range(n_values)}
    for n in ast.walk(node):
        if isinstance(n, ast.Name):
            if not isinstance(n.ctx, ast.Load) or n.id not in placeholders | _CONSTS | SAFE_FUNCS.keys():
                return False
        elif isinstance(n, ast.Call):
            if not isinstance(n.func, ast.Name) or n.func.id not in SAFE_FUNCS or n.keywords:
                return False
            if any(isinstance(a, ast.Starred) for a in n.args):
                return False
        elif isinstance(n, ast.BinOp):
            if isinstance(n.op, _COSTLY_OPS) and (_has_value(n.left) or _has_value(n.right)):
                return False
            if isinstance(n.op, (ast.Div, ast.FloorDiv)) and _has_value(n.left) and _has_value(n.right):
                return False  # dividing two huge ints is quadratic
            if not isinstance(n.op, _OPS + _COSTLY_OPS):
                return False
        elif not isinstance(n, (ast.Compare, ast.BoolOp, ast.UnaryOp, ast.Constant, ast.List, ast.Tuple, ast.Set,
                                ast.Dict, ast.Load, ast.cmpop, ast.boolop, ast.unaryop, ast.operator, ast.IfExp)):
            return False  # attributes, subscripts, comprehensions, lambdas, f-strings, walrus...
    return True


def judge(piece: Split, values: tuple) -> tuple[bool, str]:
    """(passed, detail) of the rest of the assert over the program's values (exact builtins, decoded)."""
    scope = {f"{_PREFIX}{k}": v for k, v in enumerate(values)}
    try:
        ok = bool(eval(piece.rest, {"__builtins__": {}, **SAFE_FUNCS}, scope))  # noqa: S307 - trusted test code
    except Exception as exc:  # noqa: BLE001 - a wrong type from the program (TypeError, OverflowError...) fails the assert
        return False, f"assert raised {type(exc).__name__}: {str(exc)[:200]}"
    return ok, "" if ok else "assertion failed"
