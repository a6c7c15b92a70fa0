"""The harness that runs inside the forked, isolated child: untrusted territory.

Stdlib only. It receives the program and the test *inputs* (never the expected outputs), runs them,
and writes one framed record per step to the result fd. Nothing it writes can make a test pass on its
own: the trusted parent compares every value against the expected output it alone holds. Because the
program shares this process, everything here may be tampered with; the parent treats records as
claims about values, never as verdicts (except assert tests, which are marked untrusted).

Records (JSON objects, 4-byte big-endian length prefix):
  {"loaded": 1, "cov": [...]}                 the program's top level finished (call/assert tests)
  {"i": n, "ok": tree, "cov": [...]}          call test n returned the tagged value ``tree``
  {"i": n, "assert": 1, "cov": [...]}         assert test n ran without raising
  {"i": n, "exit": 0, "cov": [...]}           stdio test n: the program finished normally
  {"i": n, "err": name, "msg": s, "line": k, "syntax": 0|1, "cov": [...]}   an exception escaped
  {"i": n, "unenc": reason}                   call test n returned something that is not a builtin value
"""

from __future__ import annotations

import builtins
import os
import sys
import time

import wire  # the zygote puts this package's directory on sys.path before it forks

PROGRAM_FILE = "<program>"


class _Emitter:
    def __init__(self, fd: int):
        self.fd = fd
        self._write = os.write  # bound before the program runs; patching os.write later changes nothing here
        self.lines: set[int] = set()
        self._sent: set[int] = set()

    def __call__(self, record: dict) -> None:
        new = self.lines - self._sent
        if new:
            record["cov"] = sorted(new)
            self._sent |= new
        try:
            data = wire.dumps(record)
        except (TypeError, ValueError):
            data = wire.dumps({k: v for k, v in record.items() if k in ("i", "err")})
        frame = len(data).to_bytes(4, "big") + data
        view = memoryview(frame)
        while view:
            view = view[self._write(self.fd, view):]


def _exception_record(exc: BaseException) -> dict:
    """Name, message and program line of an exception, built defensively: it may be a hostile object."""
    name, msg, line = "Exception", "", None
    try:
        raw = type(exc).__name__
        name = raw if type(raw) is str else "?"
        if isinstance(exc, SyntaxError) and type(exc.lineno) is int:
            line = exc.lineno
        tb = BaseException.__dict__["__traceback__"].__get__(exc)
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == PROGRAM_FILE:
                line = tb.tb_lineno
            tb = tb.tb_next
        text = BaseException.__str__(exc)
        msg = text[:500] if type(text) is str else ""
    except BaseException:  # noqa: BLE001 - a rigged exception must not take the harness down
        pass
    rec = {"err": name, "msg": msg, "line": line if type(line) is int else None}
    if isinstance(exc, SyntaxError):
        rec["syntax"] = 1
    return rec


def _tracer(lines: set[int]):
    def trace(frame, event, arg):
        if frame.f_code.co_filename != PROGRAM_FILE:
            return None
        if event == "line":
            lines.add(frame.f_lineno)
        return trace

    return trace


def _flush_std() -> None:
    for stream in (getattr(sys, "stdout", None), getattr(sys, "stderr", None), sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001
            pass


def run(request: dict, result_fd: int) -> None:
    """Run the program and its tests, emitting records; never returns (always ``os._exit``)."""
    emit = _Emitter(result_fd)
    _exit = os._exit
    tests = request["tests"]
    stdio = request["stdio"]
    first = tests[0]["i"]
    try:
        code = compile(request["program"], PROGRAM_FILE, "exec", dont_inherit=True)
    except BaseException as exc:  # SyntaxError, ValueError (NUL bytes), MemoryError, RecursionError
        rec = _exception_record(exc)
        rec["syntax"] = 1
        rec["i"] = first
        emit(rec)
        _exit(0)

    ns = {"__name__": "__main__" if stdio else "__codeprm_program__", "__builtins__": builtins}
    if request.get("coverage"):
        sys.settrace(_tracer(emit.lines))
    try:
        exec(code, ns)
    except SystemExit as exc:
        if stdio and exc.code in (None, 0):
            _flush_std()
            sys.settrace(None)
            emit({"i": first, "exit": 0})
            _exit(0)
        rec = _exception_record(exc)
        rec["i"] = first
        _flush_std()
        emit(rec)
        _exit(1)
    except BaseException as exc:  # noqa: BLE001
        rec = _exception_record(exc)
        rec["i"] = first
        sys.settrace(None)
        _flush_std()
        emit(rec)
        _exit(1)
    if stdio:
        sys.settrace(None)
        _flush_std()
        emit({"i": first, "exit": 0})
        _exit(0)

    emit({"loaded": 1})
    entry = request.get("entry_point")
    setup_done = False
    clock = time.perf_counter
    for test in tests:
        idx = test["i"]
        started = clock()
        try:
            if not setup_done:
                # Before any test kind: LeetCode-style problems define the entry point here
                # (a module-level wrapper around ``Solution().method``).
                setup_done = True
                if request.get("test_setup"):
                    exec(compile(request["test_setup"], "<test_setup>", "exec", dont_inherit=True), ns)
            if entry not in ns:
                raise NameError(f"entry point {entry!r} is not defined by the program")
            if test["kind"] == "call":
                args = wire.from_tree(test["args"])
                kwargs = wire.from_tree(test["kwargs"])
                value = ns[entry](*args, **kwargs)
                try:
                    tree = wire.to_tree(value)
                except wire.Unencodable as exc:
                    emit({"i": idx, "unenc": str(exc)[:200], "t": clock() - started})
                    continue
                emit({"i": idx, "ok": tree, "t": clock() - started})
            else:
                ns["candidate"] = ns[entry]
                exec(compile(test["code"], "<assert>", "exec", dont_inherit=True), ns)
                emit({"i": idx, "assert": 1, "t": clock() - started})
        except BaseException as exc:  # noqa: BLE001 - SystemExit inside a test is a failure too
            rec = _exception_record(exc)
            rec["i"] = idx
            rec["t"] = clock() - started
            emit(rec)
    sys.settrace(None)
    _flush_std()
    _exit(0)
