"""The zygote: a warm interpreter that forks one isolated child per request and supervises it.

Started by the trusted parent as ``python -I -S jail/zygote.py`` (stdlib only; no codeprm, no site). It
never runs user code and never sees expected outputs. Start-up, once: pre-import common stdlib modules,
set up isolation (isolation.py), ``gc.freeze()``. Per request (supervise.py): fork; the child drops to
this worker's own unprivileged uid, applies rlimits and the seccomp filter, and runs ``child.run``.

Sample data never enters this process's memory, so no later child can find it in the heap it inherits
or in a frame it walks up to: a request is one small JSON frame of numbers (limits, caps, record
count) followed by two raw frames (the job: program and test inputs; the stdin) that are spliced from
the channel straight into memfds for the child; the reply is a JSON header of numbers followed by
three raw frames (result records, stdout, stderr) spliced from memfds straight into the channel.

Channel to the parent: frames of a 4-byte big-endian length + payload.
"""

from __future__ import annotations

import os
import sys

# Common stdlib modules, imported once here so that children find them already loaded. Not threading,
# queue, random or statistics: they register at-fork handlers that would run in every child (threading
# alone costs about 0.5 ms of CPU per fork); a program that needs them imports them itself.
PREIMPORT = (
    "abc array bisect calendar cmath collections collections.abc copy dataclasses datetime decimal enum "
    "fractions functools hashlib heapq io itertools json math numbers operator re string struct textwrap "
    "time typing unicodedata traceback types contextlib codecs ctypes"
).split()


def read_exact(fd: int, n: int) -> bytes:
    chunks = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int) -> bytes:
    return read_exact(fd, int.from_bytes(read_exact(fd, 4), "big"))


def frame_to_memfd(fd: int, name: str) -> int:
    """The next frame of the channel, spliced into a new memfd without passing through this process."""
    n = int.from_bytes(read_exact(fd, 4), "big")
    out = os.memfd_create(name, os.MFD_CLOEXEC)
    while n:
        moved = os.splice(fd, out, n)
        if moved <= 0:
            os.close(out)
            raise EOFError
        n -= moved
    os.lseek(out, 0, os.SEEK_SET)  # the child reads stdin from the start
    return out


def write_frames(fd: int, *payloads: bytes) -> None:
    data = b"".join(len(p).to_bytes(4, "big") + p for p in payloads)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def relay(out: int, fd: int, cap: int) -> None:
    """One frame of at most ``cap`` bytes of the memfd ``fd``, spliced to the channel (zero-padded if
    the file shrank meanwhile, so the framing always holds)."""
    size = min(os.fstat(fd).st_size, cap)
    write_frames_header(out, size)
    offset = 0
    while offset < size:
        moved = os.splice(fd, out, size - offset, offset_src=offset)
        if moved <= 0:
            break
        offset += moved
    if offset < size:
        write_all(out, bytes(size - offset))
    os.close(fd)


def write_frames_header(fd: int, size: int) -> None:
    write_all(fd, size.to_bytes(4, "big"))


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def serve_one(chan_in: int, chan_out: int, state, json, supervise) -> bool:
    """Answer one request; False when this zygote must retire (the parent starts a fresh one)."""
    control = json.loads(read_frame(chan_in))
    job_fd = frame_to_memfd(chan_in, "job")
    stdin_fd = frame_to_memfd(chan_in, "stdin")
    try:
        header, *streams = supervise.run_one(control, job_fd, stdin_fd, state)
    except Exception as exc:  # noqa: BLE001 - the parent retries the sample on a fresh zygote
        for fd in (job_fd, stdin_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        header, streams = {"infra": f"zygote error: {type(exc).__name__}"[:200], "retire": "zygote error"}, []
    write_frames(chan_out, json.dumps(header).encode())
    for fd, cap in streams:
        relay(chan_out, fd, cap)
    for _ in range(3 - len(streams)):
        write_frames(chan_out, b"")
    return not header.get("retire")


def main() -> None:
    # The parent channel moves to high fds; 0/1 become /dev/null so nothing the zygote prints can
    # corrupt the protocol, and children get fresh 0/1/2 anyway.
    chan_in, chan_out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    import json

    config = json.loads(read_frame(chan_in))
    here = os.path.dirname(os.path.abspath(__file__))
    sandbox_dir = os.path.dirname(here)  # isolation.py and rootfs.py: jail-side too (stdlib only)
    sys.path[:0] = [here, sandbox_dir]
    import importlib

    for name in PREIMPORT:
        importlib.import_module(name)
    import child  # noqa: F401,E402 - preloaded for the children; needs sys.path above; before paths get hidden
    import isolation
    import supervise

    try:
        state = isolation.setup_zygote(config)
    except isolation.Missing as exc:
        write_frames(chan_out, json.dumps({"ok": False, "missing": exc.args[0], "why": exc.args[1]}).encode())
        return
    for path in (here, sandbox_dir):
        if path in sys.path:
            sys.path.remove(path)
    del config
    import gc

    assert "threading" not in sys.modules, "a preimport pulled in threading (slows every fork)"

    if os.environ.get("CODEPRM_NO_FREEZE") != "1":
        # Move every object the zygote made into the permanent generation: a child's garbage collector
        # then never walks (and so never copies-on-write) the zygote's heap.
        gc.collect()
        gc.freeze()
    write_frames(chan_out, json.dumps({"ok": True, "mechanisms": state.mechanisms}).encode())
    while True:
        try:
            if not serve_one(chan_in, chan_out, state, json, supervise):
                return
        except EOFError:
            return


if __name__ == "__main__":
    main()
