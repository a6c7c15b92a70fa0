"""JSON encoding of the builtin values tests use as inputs and expected outputs.

JSON has no tuples, sets, bytes, non-finite floats or non-string dict keys; HumanEval uses all of them.
Plain JSON values stay plain (so hand-written JSONL stays readable); the rest become one-key tagged
objects such as ``{"__tuple__": [1, 2]}``. ``decode(encode(v)) == v`` with types preserved.
"""

from __future__ import annotations

import base64
import math
from typing import Any

_TAGS = ("__tuple__", "__set__", "__frozenset__", "__bytes__", "__float__", "__dict__", "__complex__")


def encode(value: Any) -> Any:
    """A JSON-serialisable form of a builtin value; raises TypeError for anything else."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, complex):
        return {"__complex__": [encode(value.real), encode(value.imag)]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v) for v in value]}
    if isinstance(value, frozenset):
        return {"__frozenset__": [encode(v) for v in _stable(value)]}
    if isinstance(value, set):
        return {"__set__": [encode(v) for v in _stable(value)]}
    if isinstance(value, (bytes, bytearray)):
        return {"__bytes__": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value) and not (len(value) == 1 and next(iter(value)) in _TAGS):
            return {k: encode(v) for k, v in value.items()}
        return {"__dict__": [[encode(k), encode(v)] for k, v in value.items()]}
    raise TypeError(f"cannot encode a value of type {type(value).__name__}")


def decode(obj: Any) -> Any:
    """The builtin value behind :func:`encode`'s output."""
    if isinstance(obj, list):
        return [decode(v) for v in obj]
    if isinstance(obj, dict):
        if len(obj) == 1:
            (tag, inner), = obj.items()
            if tag == "__tuple__":
                return tuple(decode(v) for v in inner)
            if tag == "__set__":
                return {decode(v) for v in inner}
            if tag == "__frozenset__":
                return frozenset(decode(v) for v in inner)
            if tag == "__bytes__":
                return base64.b64decode(inner)
            if tag == "__float__":
                return float(inner)
            if tag == "__complex__":
                return complex(decode(inner[0]), decode(inner[1]))
            if tag == "__dict__":
                return {decode(k): decode(v) for k, v in inner}
        return {k: decode(v) for k, v in obj.items()}
    return obj


def _stable(items: Any) -> list:
    # Sets have no order; sort when possible so encodings are deterministic.
    try:
        return sorted(items)
    except TypeError:
        return sorted(items, key=repr)
