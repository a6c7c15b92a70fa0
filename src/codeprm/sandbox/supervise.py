"""Zygote side of one request: fork the child, watch it, kill and reap it. Stdlib only.

The wall clock restarts at every complete result record (one per test), so each test gets
``wall_s`` of wall time; output pipes are capped; whatever happens, the child's process group and
anything left in its cgroup are SIGKILLed and every process is reaped before the reply.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import time

import isolation

_counter = [0]


def _baseline_vm() -> tuple[int, int]:
    """(virtual size, resident size) of the zygote in bytes: what every child starts with."""
    with open("/proc/self/statm") as fh:
        size, resident = (int(x) for x in fh.read().split()[:2])
    page = os.sysconf("SC_PAGE_SIZE")
    return size * page, resident * page


def run_one(request: dict, state: isolation.State, child_run, close_in_child: list[int]):
    _counter[0] += 1
    workdir = os.path.join(state.tmp_root, f"s{_counter[0]}")
    os.mkdir(workdir, 0o700)
    vm, rss = _baseline_vm()
    limits = {
        "cpu_s": int(request["cpu_s"]),
        "as_bytes": int(request["mem_bytes"]) + vm,
        "fsize_bytes": int(request["fsize_bytes"]),
        "open_files": int(request["open_files"]),
        "processes": int(request["processes"]),
    }
    isolation.set_memory_limit(state, int(request["mem_bytes"]) + rss + (64 << 20))
    oom_before = isolation.oom_kills(state)
    if request.get("stdio"):
        stdin_fd = os.memfd_create("stdin", 0)
        data = request.get("stdin", "").encode()
        view = memoryview(data)
        while view:
            view = view[os.write(stdin_fd, view):]
        os.lseek(stdin_fd, 0, os.SEEK_SET)
    else:
        stdin_fd = os.open(os.devnull, os.O_RDONLY)
    res_r, res_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    setup_r, setup_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # ---- child ----
        try:
            os.setpgid(0, 0)
            for target, fd in ((0, stdin_fd), (1, out_w), (2, err_w), (3, res_w), (4, setup_w)):
                os.dup2(fd, target)
            isolation.enter_child(state, limits, workdir)
            os.write(4, b"R")
            os.close(4)
        except BaseException as exc:  # noqa: BLE001 - report, never run the program half-isolated
            try:
                os.write(4, b"F" + repr(exc).encode()[:500])
            finally:
                os._exit(113)
        child_run(request, 3)
        os._exit(0)
    # ---- zygote ----
    for fd in (stdin_fd, res_w, out_w, err_w, setup_w):
        os.close(fd)
    try:
        os.setpgid(pid, pid)
    except OSError:
        pass  # the child already did it, or already exited
    header = {"exit": None, "signal": None, "timeout": False, "output_limit": None, "infra": None,
              "frame_times": [], "cpu_s": 0.0, "oom": False}
    bufs = {res_r: bytearray(), out_r: bytearray(), err_r: bytearray()}
    caps = {res_r: int(request["result_cap"]), out_r: int(request["stdout_cap"]), err_r: int(request["stderr_cap"])}
    names = {res_r: "result", out_r: "stdout", err_r: "stderr"}
    start = time.monotonic()
    ready = _read_setup(setup_r)
    if ready != b"R":
        header["infra"] = "child setup failed: " + (ready[1:].decode(errors="replace") if ready else "no answer")
    else:
        _watch(pid, request, header, bufs, caps, names, start)
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        _, status, usage = os.wait4(pid, 0)
        header["cpu_s"] = usage.ru_utime + usage.ru_stime
        if os.WIFEXITED(status):
            header["exit"] = os.WEXITSTATUS(status)
        elif os.WIFSIGNALED(status):
            header["signal"] = os.WTERMSIG(status)
    except ChildProcessError:
        header["infra"] = header["infra"] or "child vanished before it was reaped"
    _sweep_cgroup(state)
    _reap_orphans()
    header["oom"] = isolation.oom_kills(state) > oom_before
    header["wall_s"] = time.monotonic() - start
    for fd in (res_r, out_r, err_r, setup_r):
        os.close(fd)
    _clean(workdir)
    return header, bytes(bufs[res_r]), bytes(bufs[out_r]), bytes(bufs[err_r])


def _read_setup(fd: int) -> bytes:
    ready, _, _ = select.select([fd], [], [], 10.0)
    return os.read(fd, 600) if ready else b""


def _watch(pid, request, header, bufs, caps, names, start) -> None:
    expected = int(request["expected_frames"])
    wall = float(request["wall_s"])
    deadline = start + wall
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        pidfd = None
    poller = select.poll()
    open_fds = set(bufs)
    for fd in bufs:
        os.set_blocking(fd, False)
        poller.register(fd, select.POLLIN)
    if pidfd is not None:
        poller.register(pidfd, select.POLLIN)
    res_fd = next(fd for fd, n in names.items() if n == "result")
    parsed, frames = 0, 0
    exited = False
    try:
        while True:
            now = time.monotonic()
            if now >= deadline:
                header["timeout"] = True
                return
            events = poller.poll(max(1, int((deadline - now) * 1000) + 1))
            for fd, _ in events:
                if fd == pidfd:
                    exited = True
                    poller.unregister(pidfd)
                    continue
                if not _drain(fd, bufs, caps, names, header, open_fds, poller):
                    return
            now = time.monotonic()
            buf = bufs[res_fd]
            while len(buf) - parsed >= 4:  # count complete frames: each one restarts the test clock
                size = int.from_bytes(buf[parsed:parsed + 4], "big")
                if len(buf) - parsed - 4 < size:
                    break
                parsed += 4 + size
                frames += 1
                header["frame_times"].append(now - start)
                deadline = now + wall
            if frames >= expected or header["output_limit"]:
                return
            if exited or not open_fds:
                for fd in list(open_fds):  # the child is gone: take what is left, without blocking
                    _drain(fd, bufs, caps, names, header, open_fds, poller)
                if exited:
                    return
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _drain(fd, bufs, caps, names, header, open_fds, poller) -> bool:
    """Read what is available; False once a cap is exceeded."""
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            return True
        if not chunk:
            open_fds.discard(fd)
            try:
                poller.unregister(fd)
            except KeyError:
                pass
            return True
        bufs[fd] += chunk
        if len(bufs[fd]) > caps[fd]:
            del bufs[fd][caps[fd]:]
            header["output_limit"] = names[fd]
            return False


def _sweep_cgroup(state: isolation.State) -> None:
    """Kill whatever is left in the worker's cgroups (a process can leave the group only without seccomp)."""
    if not state.cgroup_dirs:
        return
    for _ in range(200):
        pids = isolation.cgroup_pids(state)
        if not pids:
            return
        for other in pids:
            try:
                os.kill(other, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _reap_orphans()
        time.sleep(0.001)


def _reap_orphans() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _clean(workdir: str) -> None:
    try:
        os.rmdir(workdir)
    except OSError:
        shutil.rmtree(workdir, ignore_errors=True)
