"""The trusted side's judgement: decode child records strictly, compare values, match stdout.

Value comparison (call tests) is Python equality over builtin values with two changes: floats (and an
int against a float) compare with ``math.isclose(rel_tol, abs_tol)``, and NaN equals NaN. Containers
must have the same type (a tuple never equals a list, as in Python); dict keys and set members compare
exactly.

Stdout comparison (stdio tests): ``\\r\\n`` becomes ``\\n``; trailing whitespace of every line and
trailing blank lines are ignored. If the texts still differ, they match when they have the same lines
and each line the same whitespace-separated tokens, tokens equal as text or both numbers within the
float tolerance.
"""

from __future__ import annotations

import json
import math
import signal
from typing import Any

from codeprm.sandbox import wire


class Malformed(Exception):
    """The child's result stream is not a sequence of well-formed records."""


def decode_records(blob: bytes) -> list[dict]:
    out, pos = [], 0
    while pos < len(blob):
        if len(blob) - pos < 4:
            raise Malformed("truncated record")
        size = int.from_bytes(blob[pos:pos + 4], "big")
        payload = blob[pos + 4:pos + 4 + size]
        if len(payload) != size:
            raise Malformed("truncated record")
        pos += 4 + size
        try:
            rec = json.loads(payload)
        except (ValueError, RecursionError):
            raise Malformed("record is not JSON") from None
        if type(rec) is not dict:
            raise Malformed("record is not an object")
        out.append(rec)
    return out


def record_lines(rec: dict, n_lines: int) -> list[int]:
    cov = rec.get("cov", [])
    if type(cov) is not list:
        return []
    return [x for x in cov if type(x) is int and 1 <= x <= n_lines]


def values_equal(actual: Any, expected: Any, rel_tol: float, abs_tol: float) -> bool:
    ta, te = type(actual), type(expected)
    if ta in (int, float) and te in (int, float) and (ta is float or te is float):
        if math.isnan(actual) or math.isnan(expected):
            return math.isnan(actual) and math.isnan(expected)
        return math.isclose(actual, expected, rel_tol=rel_tol, abs_tol=abs_tol)
    if ta is bool or te is bool or ta in (int, float) and te in (int, float):
        return ta in (bool, int) and te in (bool, int) and actual == expected
    if ta is complex or te is complex:
        return ta in (int, float, complex) and te in (int, float, complex) and cmath_close(actual, expected, rel_tol, abs_tol)
    if ta is not te:
        return False
    if ta in (list, tuple):
        return len(actual) == len(expected) and all(values_equal(a, e, rel_tol, abs_tol) for a, e in zip(actual, expected))
    if ta is dict:
        return actual.keys() == expected.keys() and all(values_equal(actual[k], expected[k], rel_tol, abs_tol) for k in expected)
    return actual == expected  # str, bytes, None, set, frozenset: exact


def cmath_close(a: complex, b: complex, rel_tol: float, abs_tol: float) -> bool:
    a, b = complex(a), complex(b)
    return values_equal(a.real, b.real, rel_tol, abs_tol) and values_equal(a.imag, b.imag, rel_tol, abs_tol)


def _normalise(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def stdout_matches(actual: str, expected: str, rel_tol: float, abs_tol: float) -> bool:
    got, want = _normalise(actual), _normalise(expected)
    if got == want:
        return True
    if len(got) != len(want):
        return False
    for line_got, line_want in zip(got, want):
        tokens_got, tokens_want = line_got.split(), line_want.split()
        if len(tokens_got) != len(tokens_want):
            return False
        for a, b in zip(tokens_got, tokens_want):
            if a != b and not _numbers_close(a, b, rel_tol, abs_tol):
                return False
    return True


def _numbers_close(a: str, b: str, rel_tol: float, abs_tol: float) -> bool:
    try:
        x, y = float(a), float(b)
    except ValueError:
        return False
    if not (math.isfinite(x) and math.isfinite(y)):
        return False
    return math.isclose(x, y, rel_tol=rel_tol, abs_tol=abs_tol)


def exception_status(rec: dict) -> tuple[str, str]:
    """(status, detail) of an exception record: syntax_error, memory or runtime_error."""
    name = rec.get("err") if type(rec.get("err")) is str else "?"
    msg = rec.get("msg") if type(rec.get("msg")) is str else ""
    detail = f"{name}: {msg}"[:500]
    if rec.get("syntax") == 1:
        return "syntax_error", detail
    if name == "MemoryError":
        return "memory", detail
    return "runtime_error", detail


def death_status(header: dict, cpu_limit_s: float) -> tuple[str, str]:
    """(status, detail) for a child that stopped without a record for the test it was running."""
    if header.get("output_limit"):
        return "output_limit", f"{header['output_limit']} exceeded its cap"
    if header.get("timeout"):
        if header.get("timeout_kind") == "cpu":
            return "timeout", f"CPU time limit ({cpu_limit_s:g} s per test) exceeded"
        return "timeout", "wall-clock limit exceeded"
    sig = header.get("signal")
    if sig == signal.SIGXCPU or (sig == signal.SIGKILL and header.get("cpu_s", 0.0) >= cpu_limit_s - 0.05):
        return "timeout", "CPU time limit exceeded"
    if header.get("oom"):
        return "memory", "memory limit exceeded (cgroup)"
    if sig:
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        return "runtime_error", f"killed by {name}"
    return "runtime_error", f"program exited with code {header.get('exit')} before the test finished"


def decode_value(tree: Any) -> Any:
    return wire.from_tree(tree)
