"""Zygote side of one request: fork the child, watch it, kill and reap it. Stdlib only.

The child's stdout, stderr and result records go to fresh memfds, not pipes: the zygote then sleeps
until the child exits or a check is due, instead of waking for every write (wake-ups dominate the cost
of a short sample on a loaded machine). RLIMIT_FSIZE bounds every stream; each stream is compared with
its own cap afterwards. The wall clock restarts whenever a check finds new result records, so each test
gets between ``wall_s`` and ``wall_s + check`` of wall time. Whatever happens, the child's process group
and anything left in the worker's cgroup are SIGKILLed, and every process is reaped before the reply.
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


_workdir = [""]
_vm = [0, (0, 0)]


def _fresh_workdir(state: isolation.State) -> str:
    """The sample's private directory: the previous one if the last sample left it empty (mkdir and
    rmdir cost milliseconds on some filesystems), else a new one."""
    path = _workdir[0]
    if path:
        try:
            if not os.listdir(path):
                os.chmod(path, 0o700)
                return path
        except OSError:
            pass
        _clean(path)
    while True:
        _counter[0] += 1
        path = os.path.join(state.tmp_root, f"s{_counter[0]}")
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            continue  # left by an earlier zygote sharing this root
        _workdir[0] = path
        return path


def _baseline_vm_cached() -> tuple[int, int]:
    if _vm[0] % 64 == 0:  # the zygote's size barely changes; re-read it now and then
        _vm[1] = _baseline_vm()
    _vm[0] += 1
    return _vm[1]


def run_one(request: dict, state: isolation.State):
    workdir = _fresh_workdir(state)
    vm, rss = _baseline_vm_cached()
    caps = {"result": int(request["result_cap"]), "stdout": int(request["stdout_cap"]), "stderr": int(request["stderr_cap"])}
    limits = {
        "cpu_s": int(request["cpu_s"]),
        "as_bytes": int(request["mem_bytes"]) + vm,
        # one limit for every file the child writes: the larger of the file and stream caps, plus one
        # byte so that exceeding a stream cap is visible
        "fsize_bytes": max(int(request["fsize_bytes"]), *caps.values()) + 1,
        "open_files": int(request["open_files"]),
        "processes": int(request["processes"]),
    }
    isolation.set_memory_limit(state, int(request["mem_bytes"]) + rss + (64 << 20))
    streams = {name: os.memfd_create(name, os.MFD_CLOEXEC) for name in ("result", "stdout", "stderr")}
    if request.get("stdio"):
        stdin_fd = os.memfd_create("stdin", os.MFD_CLOEXEC)
        view = memoryview(request.get("stdin", "").encode())
        while view:
            view = view[os.write(stdin_fd, view):]
        os.lseek(stdin_fd, 0, os.SEEK_SET)
    else:
        stdin_fd = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    setup_r, setup_w = os.pipe()
    start = time.monotonic()
    pid = _fork()
    if pid == 0:  # ---- child ----
        try:
            os.setpgid(0, 0)
            for target, fd in ((0, stdin_fd), (1, streams["stdout"]), (2, streams["stderr"]), (3, streams["result"]), (4, setup_w)):
                os.dup2(fd, target)  # dup2 clears close-on-exec on the copies
            isolation.enter_child(state, limits, workdir)
            os.write(4, b"R")
            os.close(4)
        except BaseException as exc:  # noqa: BLE001 - report, never run the program half-isolated
            try:
                os.write(4, b"F" + repr(exc).encode()[:500])
            finally:
                os._exit(113)
        from child import run as child_run  # already imported by the zygote: a dict lookup

        child_run(request, 3)
        os._exit(0)
    # ---- zygote ----
    os.close(stdin_fd)
    os.close(setup_w)
    try:
        os.setpgid(pid, pid)
    except OSError:
        pass  # the child already did it, or already exited
    header = {"exit": None, "signal": None, "timeout": False, "output_limit": None, "infra": None, "cpu_s": 0.0, "oom": False}
    why = _wait(pid, request, streams["result"], float(request["wall_s"]), start)
    header["timeout"], header["timeout_kind"] = why is not None, why
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
        header["infra"] = "child vanished before it was reaped"
    _sweep_cgroup(state)
    _reap_orphans()
    header["wall_s"] = time.monotonic() - start
    if header["signal"] == signal.SIGKILL and not header["timeout"]:
        seen = isolation.oom_kills(state)
        header["oom"] = seen > state.oom_seen
        state.oom_seen = seen
    os.set_blocking(setup_r, False)
    try:
        ready = os.read(setup_r, 600)
    except BlockingIOError:
        ready = b""
    os.close(setup_r)
    if ready != b"R":
        header["infra"] = "child setup failed: " + (ready[1:].decode(errors="replace") if ready else "no answer")
    data = {}
    for name, fd in streams.items():
        size = os.fstat(fd).st_size
        data[name] = os.pread(fd, min(size, caps[name]), 0) if size else b""
        if size > caps[name] and header["output_limit"] is None:
            header["output_limit"] = name
        os.close(fd)
    return header, data["result"], data["stdout"], data["stderr"]


def _fork() -> int:
    """fork, waiting briefly while the last sample's killed processes still count against the pids limit."""
    for _ in range(200):
        try:
            return os.fork()
        except BlockingIOError:
            _reap_orphans()
            time.sleep(0.005)
    return os.fork()


def _cpu_s(pid: int) -> float:
    """CPU seconds the process has used so far, from the kernel (the program cannot lie about it)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICK
    except (OSError, IndexError, ValueError):
        return 0.0


_TICK = os.sysconf("SC_CLK_TCK")


def _wait(pid: int, request: dict, result_fd: int, wall: float, start: float) -> str | None:
    """Sleep until the child exits. Returns None, or why it must be killed: "wall" when a test ran past
    its wall-clock budget, "cpu" when a test used more than its CPU seconds (measured from the check
    that first saw the previous test's record, so a test is never charged for its predecessor)."""
    expected = int(request["expected_frames"])
    cpu_limit = float(request.get("test_cpu_s") or 0.0)
    check_every = max(0.05, min(0.5, wall / 2, cpu_limit / 2 if cpu_limit else 0.5))
    deadline = start + wall
    pidfd = os.pidfd_open(pid)
    parsed = frames = 0
    cpu_base = 0.0
    try:
        while True:
            now = time.monotonic()
            wake = min(deadline, now + check_every)
            if select.select([pidfd], [], [], max(0.0, wake - now))[0]:
                return None
            now = time.monotonic()
            cpu = _cpu_s(pid)
            size = os.fstat(result_fd).st_size
            if size > parsed:  # count complete records: new ones mean the child moved on to the next test
                blob = os.pread(result_fd, min(size - parsed, 1 << 24), parsed)
                pos, before = 0, frames
                while len(blob) - pos >= 4:
                    length = int.from_bytes(blob[pos:pos + 4], "big")
                    if len(blob) - pos - 4 < length:
                        break
                    pos += 4 + length
                    frames += 1
                parsed += pos
                if frames >= expected:
                    return None  # every record is in: whatever the child does now does not matter
                if frames > before:
                    deadline, cpu_base = now + wall, cpu
                    continue
            if cpu_limit and cpu - cpu_base > cpu_limit:
                return "cpu"
            if now >= deadline:
                return "wall"
    finally:
        os.close(pidfd)


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
