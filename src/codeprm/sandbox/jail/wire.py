"""The strict, type-tagged encoding of builtin values that crosses the sandbox boundary.

Stdlib only: the zygote and the untrusted child import this file directly (no codeprm, no pydantic).

Only values whose type is *exactly* a builtin (``type(v) is int``, never ``isinstance``) are encoded,
so a ``str`` subclass with a rigged ``__eq__`` arrives at the trusted side as ``unencodable`` rather
than as a string. The encoder calls no user-overridable method: for exact builtin types iteration,
``repr(float)`` and ``hex(int)`` are the C implementations. Depth and total size are bounded.

A tagged tree is a JSON list whose first item names the type:
``["n"]`` None, ``["b", 0|1]`` bool, ``["i", hex]`` int, ``["f", repr]`` float, ``["c", re, im]`` complex,
``["s", text]`` str, ``["y", hex]`` bytes, ``["l", [...]]`` list, ``["t", [...]]`` tuple,
``["S", [...]]`` set, ``["F", [...]]`` frozenset, ``["d", [[k, v], ...]]`` dict.
"""

from __future__ import annotations

import json
import math

MAX_DEPTH = 64
MAX_ITEMS = 1_000_000


class Unencodable(Exception):
    """The value is not made of exact builtin types, too deep, or too large."""


def to_tree(value, max_depth: int = MAX_DEPTH, max_items: int = MAX_ITEMS) -> list:
    budget = [max_items]

    def enc(v, depth: int) -> list:
        budget[0] -= 1
        if budget[0] < 0:
            raise Unencodable("value too large")
        if depth > max_depth:
            raise Unencodable("value nested too deeply")
        t = type(v)
        if v is None:
            return ["n"]
        if t is bool:
            return ["b", 1 if v else 0]
        if t is int:
            return ["i", hex(v)]
        if t is float:
            return ["f", float.__repr__(v)]
        if t is complex:
            return ["c", float.__repr__(v.real), float.__repr__(v.imag)]
        if t is str:
            return ["s", v]
        if t is bytes or t is bytearray:
            return ["y", bytes(v).hex()]
        if t is list:
            return ["l", [enc(x, depth + 1) for x in list.copy(v)]]
        if t is tuple:
            return ["t", [enc(x, depth + 1) for x in v]]
        if t is set:
            return ["S", [enc(x, depth + 1) for x in set.copy(v)]]
        if t is frozenset:
            return ["F", [enc(x, depth + 1) for x in v]]
        if t is dict:
            return ["d", [[enc(k, depth + 1), enc(x, depth + 1)] for k, x in dict.items(v)]]
        raise Unencodable(f"a value of type {t.__name__!s} is not a builtin value")

    return enc(value, 0)


def from_tree(tree, max_depth: int = MAX_DEPTH + 2):
    """Decode a tagged tree into exact builtin values; raises ValueError on anything malformed."""

    def dec(node, depth: int):
        if depth > max_depth or type(node) is not list or not node or type(node[0]) is not str:
            raise ValueError("malformed value")
        tag = node[0]
        if tag == "n" and len(node) == 1:
            return None
        if len(node) == 2:
            arg = node[1]
            if tag == "b" and arg in (0, 1) and type(arg) is int:
                return bool(arg)
            if tag == "i" and type(arg) is str:
                return int(arg, 16)
            if tag == "f" and type(arg) is str:
                return float(arg)
            if tag == "s" and type(arg) is str:
                return arg
            if tag == "y" and type(arg) is str:
                return bytes.fromhex(arg)
            if type(arg) is list:
                if tag == "l":
                    return [dec(x, depth + 1) for x in arg]
                if tag == "t":
                    return tuple(dec(x, depth + 1) for x in arg)
                if tag in ("S", "F"):
                    members = [dec(x, depth + 1) for x in arg]
                    check_hashes(members)  # before building: a set of equal-hash members is quadratic
                    return set(members) if tag == "S" else frozenset(members)
                if tag == "d":
                    if any(type(pair) is not list or len(pair) != 2 for pair in arg):
                        raise ValueError("malformed dict item")
                    keys = [dec(pair[0], depth + 1) for pair in arg]
                    check_hashes(keys)
                    return dict(zip(keys, [dec(pair[1], depth + 1) for pair in arg]))
        if tag == "c" and len(node) == 3 and type(node[1]) is str and type(node[2]) is str:
            return complex(float(node[1]), float(node[2]))
        raise ValueError(f"malformed value tag {tag!r}")

    try:
        return dec(tree, 0)
    except (TypeError, OverflowError, RecursionError) as exc:  # unhashable set items, huge ints...
        raise ValueError(f"malformed value ({type(exc).__name__})") from None


MAX_EQUAL_HASHES = 32


def check_hashes(members: list) -> None:
    """Refuse more than ``MAX_EQUAL_HASHES`` members with one hash: Python's hashes of ints, floats and
    tuples are public, so a program can make every member of a set collide and its construction on the
    host quadratic. Linear: one hash per member, counted in a dict keyed by distinct hash values."""
    seen: dict[int, int] = {}
    for member in members:
        h = hash(member)
        count = seen.get(h, 0) + 1
        if count > MAX_EQUAL_HASHES:
            raise ValueError("too many members with equal hashes")
        seen[h] = count


_ENCODER = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), allow_nan=False)  # built once, not per call


def dumps(obj) -> bytes:
    """JSON bytes of a structure built only from exact builtin types (tagged trees, plain records)."""
    return _ENCODER.encode(obj).encode("ascii")


def loads(data: bytes):
    return json.loads(data)


def is_finite_repr(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False
