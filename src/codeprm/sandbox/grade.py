"""Reading what a child run left behind, strictly and in bounded time: records, statuses of deaths.

The host decodes at most the records it asked for (one per test, plus the load record): a stream of
millions of tiny records is rejected after the first one too many, not parsed. Each record is JSON of
at most ``SandboxConfig.result_limit_bytes``; values are decoded by ``jail.wire.from_tree`` (depth
bounded, ints from hex in linear time).
"""

from __future__ import annotations

import json
import signal

from codeprm.sandbox.jail import wire


class Malformed(Exception):
    """The child's result stream is not the sequence of well-formed records that was asked for."""


def decode_records(blob: bytes, max_records: int) -> list[dict]:
    # Before any object is built: JSON allocates far more than it reads (``[[],[],...]`` is ~27x its
    # bytes), so bound the containers and strings of the whole stream by what ``wire.to_tree`` can send
    # (``MAX_ITEMS`` values; a bracket or quote inside a string counts too, an overestimate).
    slack = 64 * (max_records + 1)
    if blob.count(b"[") + blob.count(b"{") > wire.MAX_ITEMS + slack or blob.count(b'"') > 4 * wire.MAX_ITEMS + 16 * slack:
        raise Malformed("more values than a record may hold")
    out, pos = [], 0
    view = memoryview(blob)
    while pos < len(blob):
        if len(out) >= max_records:
            raise Malformed("more records than tests")
        if len(blob) - pos < 4:
            raise Malformed("truncated record")
        size = int.from_bytes(view[pos:pos + 4], "big")
        if len(blob) - pos - 4 < size:
            raise Malformed("truncated record")
        payload = view[pos + 4:pos + 4 + size]
        pos += 4 + size
        try:
            rec = json.loads(bytes(payload))
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
    return [x for x in cov[: n_lines + 1] if type(x) is int and 1 <= x <= n_lines]


def exception_status(rec: dict) -> tuple[str, str]:
    """(status, detail) of an exception record from a program that compiled: memory or runtime_error.
    (syntax_error comes only from the trusted compile marker, never from a record.)"""
    name = rec.get("err") if type(rec.get("err")) is str else "?"
    msg = rec.get("msg") if type(rec.get("msg")) is str else ""
    detail = f"{name[:100]}: {msg[:400]}"
    if name == "MemoryError":
        return "memory", detail
    return "runtime_error", detail


KILLED = {
    "test_cpu": "CPU time limit ({limit:g} s per test) exceeded",
    "sample_cpu": "the sample's CPU budget was used up",
    "test_wall": "wall-clock limit exceeded",
    "sample_wall": "the sample's wall-clock budget was used up",
}


def death_status(header: dict, cpu_limit_s: float) -> tuple[str, str]:
    """(status, detail) for a child that stopped without a record for the test it was running."""
    if header.get("output_limit"):
        return "output_limit", f"{header['output_limit']} exceeded its cap"
    killed = header.get("killed_for")
    if killed in KILLED:
        return "timeout", KILLED[killed].format(limit=cpu_limit_s)
    if header.get("oom"):
        return "memory", "memory limit exceeded (cgroup)"
    sig = header.get("signal")
    if sig == signal.SIGXCPU or (sig == signal.SIGKILL and _number(header.get("cpu_time_s")) >= cpu_limit_s - 0.05):
        return "timeout", "CPU time limit exceeded"
    if sig:
        try:
            name = signal.Signals(sig).name
        except (ValueError, TypeError):
            name = str(sig)
        return "runtime_error", f"killed by {name}"
    return "runtime_error", f"program exited with code {header.get('exit_code')} before the test finished"


def _number(value) -> float:
    return float(value) if type(value) in (int, float) else 0.0


def decode_value(tree):
    return wire.from_tree(tree)
