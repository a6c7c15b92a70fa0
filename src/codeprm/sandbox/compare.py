"""How the trusted side compares answers: strict by default, as judges are; bounded in time and size.

Call tests (``values_equal``): the answer must have exactly the expected type. An int expected accepts
an int only, a float a float only, and a bool is never an int; containers must have the same type (a
tuple never equals a list), dict keys and set members match by type too (``{True: 1}`` is not ``{1: 1}``). Floats are equal
when they are the same number (NaN equals NaN). A problem may opt in to a tolerance for numbers
(``Problem.float_tolerance``, or ``SandboxConfig.float_tolerance`` for every problem): then an int and
a float (never a bool) compare by value, equal within ``math.isclose(rel_tol=tol, abs_tol=tol)``;
a tolerance of 0 is Python's own ``5 == 5.0``.

Stdin/stdout tests (``stdout_matches``): ``\\r\\n`` becomes ``\\n``, trailing ASCII whitespace of each
line and trailing blank lines are ignored, and the texts match when they have the same lines of the
same tokens, split at ASCII whitespace only and equal as text: ``1_000`` is not ``1000`` and full-width
digits are not ASCII ones. With a tolerance, tokens that are both ASCII decimal numbers
(``-12``, ``3.5e-7``) also match within it.

Everything here costs time linear in the size of what the program sent, whatever the interpreter's
int digit limit: no int is converted to decimal text or to a float unless it is small.
"""

from __future__ import annotations

import math
import re
from typing import Any

_NUMBER = re.compile(rb"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")
_ASCII_SPACE = re.compile(rb"[ \t\n\r\f\v]+")
SMALL_INT_BITS = 1000  # ints up to this size are shown in decimal and may be compared with floats


def values_equal(actual: Any, expected: Any, tol: float | None = None) -> bool:
    ta, te = type(actual), type(expected)
    if tol is not None and ta in (int, float) and te in (int, float) and (ta is float or te is float):
        return _numbers_close(actual, expected, tol)
    if ta is not te:
        return False
    if ta is float:
        return actual == expected or (math.isnan(actual) and math.isnan(expected))
    if ta is complex:
        return values_equal(actual.real, expected.real, tol) and values_equal(actual.imag, expected.imag, tol)
    if ta in (list, tuple):
        return len(actual) == len(expected) and all(values_equal(a, e, tol) for a, e in zip(actual, expected))
    if ta is dict:
        same = _members(actual, expected)  # keys by type too: {True: 'a'} is not {1: 'a'}
        return same is not None and all(values_equal(actual[k], expected[same[k]], tol) for k in actual)
    if ta in (set, frozenset):
        return _members(actual, expected) is not None
    return actual == expected  # int, bool, str, bytes, None: exact


def _members(actual, expected) -> dict | None:
    """For each key/member of ``actual``, the one of ``expected`` it matches exactly (type included); None
    when one has no match. (Python's ``==`` alone would pair ``True`` with ``1`` and ``1.0``.)"""
    if len(actual) != len(expected):
        return None
    own = {k: k for k in expected}
    out = {}
    for k in actual:
        mine = own.get(k, own)
        if mine is own or not values_equal(k, mine):
            return None
        out[k] = mine
    return out


def _numbers_close(a: int | float, b: int | float, tol: float) -> bool:
    """An int and a float, or two floats, within ``tol``; huge ints never overflow (they are far from any float)."""
    for x in (a, b):
        if type(x) is int and x.bit_length() > SMALL_INT_BITS:
            return type(a) is type(b) and a == b
    x, y = float(a), float(b)
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    return x == y or math.isclose(x, y, rel_tol=tol, abs_tol=tol)


def _lines(data: bytes) -> list[bytes]:
    lines = [line.rstrip(b" \t\r\f\v") for line in data.replace(b"\r\n", b"\n").split(b"\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def stdout_matches(actual: bytes | str, expected: bytes | str, tol: float | None = None, ignore_case: bool = False) -> bool:
    """Judge-style stdout comparison over bytes (str is encoded as UTF-8 first); ``ignore_case``: ASCII
    letters compare without case (judges' "YES"/"yes" checker), nothing else changes."""
    got = _lines(actual.encode("utf-8", "surrogateescape") if isinstance(actual, str) else actual)
    want = _lines(expected.encode("utf-8", "surrogateescape") if isinstance(expected, str) else expected)
    if ignore_case:  # bytes.lower() folds ASCII only: full-width or other letters stay as they are
        got, want = [line.lower() for line in got], [line.lower() for line in want]
    if got == want:
        return True
    if len(got) != len(want):
        return False
    for line_got, line_want in zip(got, want):
        tokens_got = [t for t in _ASCII_SPACE.split(line_got) if t]
        tokens_want = [t for t in _ASCII_SPACE.split(line_want) if t]
        if len(tokens_got) != len(tokens_want):
            return False
        for a, b in zip(tokens_got, tokens_want):
            if a != b and not (tol is not None and _tokens_close(a, b, tol)):
                return False
    return True


def _tokens_close(a: bytes, b: bytes, tol: float) -> bool:
    if len(a) > 400 or len(b) > 400 or not (_NUMBER.match(a) and _NUMBER.match(b)):
        return False
    x, y = float(a), float(b)
    return math.isfinite(x) and math.isfinite(y) and math.isclose(x, y, rel_tol=tol, abs_tol=tol)


def render(value: Any, limit: int = 200) -> str:
    """A short repr of a decoded value in time bounded by ``limit`` (huge ints are described, not printed)."""
    out: list[str] = []
    budget = [limit]

    def put(text: str) -> None:
        out.append(text[: max(0, budget[0])])
        budget[0] -= len(text)

    def walk(v: Any, depth: int) -> None:
        if budget[0] <= 0:
            return
        t = type(v)
        if t is int:
            put(repr(v) if v.bit_length() <= SMALL_INT_BITS else f"<int of {v.bit_length()} bits>")
        elif t in (str, bytes):
            put(repr(v[: limit + 1]) + ("..." if len(v) > limit else ""))
        elif t in (list, tuple, set, frozenset, dict) and depth < 20:
            items = list(v.items()) if t is dict else list(v) if t in (set, frozenset) else v
            put({list: "[", tuple: "(", set: "{", frozenset: "frozenset({", dict: "{"}[t])
            for n, item in enumerate(items):
                if budget[0] <= 0:
                    break
                if n:
                    put(", ")
                if t is dict:
                    walk(item[0], depth + 1)
                    put(": ")
                    walk(item[1], depth + 1)
                else:
                    walk(item, depth + 1)
            put({list: "]", tuple: ",)" if len(v) == 1 else ")", set: "}", frozenset: "})", dict: "}"}[t])
        elif t in (float, complex, bool, type(None)):
            put(repr(v))
        else:
            put(f"<{t.__name__}>")

    walk(value, 0)
    text = "".join(out)
    return text if budget[0] >= 0 else text + "..."
