"""The harness that runs inside the forked, isolated child: untrusted territory. Stdlib only.

It reads its own job (the program and the test *inputs*, never the expected outputs) from a memfd the
zygote filled without reading it, runs it, and writes one framed record per step to the result pipe.
Nothing it writes can make a test pass on its own: the trusted parent compares every value with the
expected output it alone holds, and treats records as claims about values, never as verdicts (except
assert tests, which are marked untrusted). The result pipe is append-only: a record cannot be taken
back or rewritten, so the zygote's per-test clocks (restarted when a record arrives) cannot be moved
without leaving the forged frame in the stream, which the host then rejects.

Before any program code runs, the harness compiles the program and writes ``C`` (compiled) or ``S``
(syntax error) to the set-up pipe and closes it: the one status the program cannot forge.

Records (JSON objects, 4-byte big-endian length prefix):
  {"loaded": 1, "cov": [...]}                 the program's top level finished (call/assert tests)
  {"i": n, "ok": tree, "cov": [...]}          call test n returned the tagged value ``tree`` (for the
                                              calls of an assert judged on the host: a tuple of their values)
  {"i": n, "assert": 1, "cov": [...]}         assert test n ran without raising
  {"i": n, "exit": 0, "cov": [...]}           stdio test n: the program finished normally
  {"i": n, "err": name, "msg": s, "line": k, "cov": [...]}   an exception escaped
  {"i": n, "unenc": reason}                   call test n returned something that is not a builtin value
"""

from __future__ import annotations

import atexit
import builtins
import marshal
import os
import sys

import wire  # the zygote puts this directory on sys.path before it forks

PROGRAM_FILE = "<program>"
# the real exception classes, taken before any program runs (a program may rebind builtins.MemoryError)
_BUILTIN_EXC = {name: obj for name, obj in vars(builtins).items() if isinstance(obj, type) and issubclass(obj, BaseException)}


class _Quitter:
    """``exit()`` / ``quit()`` as ``site`` defines them: the zygote runs ``python -S``, which has neither."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"Use {self.name}() or Ctrl-D (i.e. EOF) to exit"

    def __call__(self, code=None):
        raise SystemExit(code)


for _name in ("exit", "quit"):  # once, in the zygote at import: nothing per sample
    if not hasattr(builtins, _name):
        setattr(builtins, _name, _Quitter(_name))


def read_job(fd: int) -> dict:
    """The job the host wrote into the memfd ``fd`` (read in the child, after the fork; marshal, which
    costs the child far less than JSON; trusted: the host wrote it and no program code has run yet)."""
    size = os.fstat(fd).st_size
    chunks, offset = [], 0
    while offset < size:
        chunk = os.pread(fd, size - offset, offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    os.close(fd)
    return marshal.loads(b"".join(chunks))


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
        cls = type(exc)  # type(), not __class__: a property cannot change it
        raw = cls.__name__
        name = raw if type(raw) is str else "?"
        if _BUILTIN_EXC.get(name) is not cls:  # a class of the program's that only borrows a builtin's name
            name = "program." + name
        tb = BaseException.__dict__["__traceback__"].__get__(exc)
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == PROGRAM_FILE:
                line = tb.tb_lineno
            tb = tb.tb_next
        text = BaseException.__str__(exc)
        msg = text[:500] if type(text) is str else ""
    except BaseException:  # noqa: BLE001 - a rigged exception must not take the harness down
        pass
    return {"err": name, "msg": msg, "line": line if type(line) is int else None}


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


def _shutdown() -> None:
    """What the interpreter does at a normal exit, so that output written there is not lost: join the
    non-daemon threads (a ``threading.Thread(target=main)`` main), then run the ``atexit`` handlers."""
    threading = sys.modules.get("threading")
    if threading is not None:
        try:
            threading._shutdown()
        except BaseException:  # noqa: BLE001
            pass
    try:
        atexit._run_exitfuncs()
    except BaseException:  # noqa: BLE001
        pass


def run(job: dict, result_fd: int, setup_fd: int) -> None:
    """Run the program and its tests, emitting records; never returns (always ``os._exit``)."""
    emit = _Emitter(result_fd)
    _exit = os._exit
    tests = job["tests"]
    stdio = job["stdio"]
    first = tests[0]["i"]
    try:
        code = compile(job["program"], PROGRAM_FILE, "exec", dont_inherit=True)
    except BaseException as exc:  # SyntaxError, ValueError (NUL bytes), MemoryError, RecursionError
        os.write(setup_fd, b"S")
        os.close(setup_fd)
        rec = _exception_record(exc)
        if type(getattr(exc, "lineno", None)) is int:
            rec["line"] = exc.lineno
        rec["i"] = first
        emit(rec)
        _exit(0)
    os.write(setup_fd, b"C")  # trusted: no program code has run yet
    os.close(setup_fd)
    del job["program"]

    atexit._clear()  # handlers the zygote registered are not the program's
    ns = {"__name__": "__main__" if stdio else "__codeprm_program__", "__builtins__": builtins}
    if job.get("coverage"):
        sys.settrace(_tracer(emit.lines))
    try:
        exec(code, ns)
    except SystemExit as exc:
        if stdio and exc.code in (None, 0):
            _shutdown()
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
        _shutdown()
        sys.settrace(None)
        _flush_std()
        emit({"i": first, "exit": 0})
        _exit(0)

    emit({"loaded": 1})
    entry = job.get("entry_point")
    setup_done = False
    for test in tests:
        idx = test["i"]
        try:
            if not setup_done:
                # Before any test kind: LeetCode-style problems define the entry point here
                # (a module-level wrapper around ``Solution().method``).
                setup_done = True
                if job.get("test_setup"):
                    exec(compile(job["test_setup"], "<test_setup>", "exec", dont_inherit=True), ns)
            if entry not in ns:
                raise NameError(f"entry point {entry!r} is not defined by the program")
            if test["kind"] in ("call", "calls"):
                # "calls": the calls of an assert judged on the host; their values go back as a tuple
                calls = [(test["args"], test["kwargs"])] if test["kind"] == "call" else test["calls"]
                values = tuple(ns[entry](*wire.from_tree(a), **wire.from_tree(k)) for a, k in calls)
                try:
                    tree = wire.to_tree(values[0] if test["kind"] == "call" else values)
                except wire.Unencodable as exc:
                    emit({"i": idx, "unenc": str(exc)[:200]})
                    continue
                emit({"i": idx, "ok": tree})
            else:
                ns["candidate"] = ns[entry]
                exec(compile(test["code"], "<assert>", "exec", dont_inherit=True), ns)
                emit({"i": idx, "assert": 1})
        except BaseException as exc:  # noqa: BLE001 - SystemExit inside a test is a failure too
            rec = _exception_record(exc)
            rec["i"] = idx
            emit(rec)
    sys.settrace(None)
    _flush_std()
    _exit(0)
