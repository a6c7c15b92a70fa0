"""The zygote: a warm interpreter that forks one isolated child per request and supervises it.

Started by the trusted parent as ``python -I -S zygote.py`` (stdlib only; no codeprm, no site). It never
runs user code itself and never sees expected outputs. Start-up, once: pre-import common stdlib
modules, enter private mount and network namespaces, make every mount read-only, put a small tmpfs on
/tmp, hide configured paths, compile the seccomp filter to BPF. Per request: fork; the child drops to
this worker's own unprivileged uid, applies rlimits and the BPF filter, and runs ``child.run``. The
zygote enforces the wall clock (per record), caps the output pipes, kills the child's process group
(and anything left in its cgroup), reaps everything, and relays raw bytes to the parent.

Channel to the parent: frames of a 4-byte big-endian length + payload. Request: one JSON frame. Reply:
a JSON header frame, then three raw frames (result records, stdout, stderr).
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


def write_frames(fd: int, *payloads: bytes) -> None:
    data = b"".join(len(p).to_bytes(4, "big") + p for p in payloads)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


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
    sys.path.insert(0, here)
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
    sys.path.remove(here)
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
            request = json.loads(read_frame(chan_in))
        except EOFError:
            return
        try:
            header, records, out, err = supervise.run_one(request, state)
        except Exception as exc:  # noqa: BLE001 - the parent retries the sample on a fresh child
            header, records, out, err = {"infra": f"zygote error: {exc!r}"[:500]}, b"", b"", b""
        write_frames(chan_out, json.dumps(header).encode(), records, out, err)


if __name__ == "__main__":
    main()
