"""Zygote side of one request: fork the child, watch its clocks, kill and reap it. Stdlib only.

Nothing of a sample passes through this process's memory: the job and the stdin arrive as memfds the
zygote filled with ``splice`` (kernel to kernel), the child's result pipe is spliced into a memfd the
child cannot reach, and stdout/stderr stay in memfds until they are spliced to the host. The zygote
handles lengths and clocks only, so a child forked later finds nothing of an earlier sample in the
heap it inherits. Each sample gets a fresh directory, removed (without recursion) before the reply.

Clocks, all measured here: CPU is the worker's cgroup ``cpuacct.usage`` (every process of the sample,
grandchildren included; without a cgroup, the sum over the child's process group read from /proc).
Each record window (the program's load, then each test) has ``test_cpu_limit_s`` of CPU and
``test_wall_limit_s`` of wall time, restarted when a complete record arrives on the append-only
result pipe; the whole child run has ``sample_cpu_limit_s`` and ``sample_wall_limit_s``, which no
record moves. Whatever happens, the child's process group and anything left in the worker's cgroups
are SIGKILLed and reaped before the reply.
"""

from __future__ import annotations

import os
import resource
import select
import signal
import time

import cleanup
import isolation

try:
    from fcntl import F_SETPIPE_SZ, fcntl
except ImportError:  # pragma: no cover - Linux has both
    F_SETPIPE_SZ, fcntl = None, None

_TICK = os.sysconf("SC_CLK_TCK")
_vm = [0, (0, 0)]


def _baseline_vm() -> tuple[int, int]:
    """(virtual size, resident size) of the zygote in bytes, re-read now and then: what a child starts with."""
    if _vm[0] % 64 == 0:
        with open("/proc/self/statm") as fh:
            size, resident = (int(x) for x in fh.read().split()[:2])
        page = os.sysconf("SC_PAGE_SIZE")
        _vm[1] = (size * page, resident * page)
    _vm[0] += 1
    return _vm[1]


def _fresh_workdir(state: isolation.State) -> str:
    """A new, empty directory for this sample alone (a random name: no count of earlier samples). With
    namespaces it is a fresh tmpfs of its own: a shared tmpfs numbers inodes with a counter that never
    goes back, so a sample could read from its files' inode numbers how many an earlier one created."""
    while True:
        path = os.path.join(state.tmp_root, "s" + os.urandom(6).hex())
        try:
            os.mkdir(path, 0o700)
            break
        except FileExistsError:
            continue
    if state.full:
        isolation.mount_workdir(state, path)
    return path


class _Clock:
    """CPU seconds used by every process of the current sample, read from the kernel: the worker's
    cpuacct cgroup (the zygote and the sample's processes) less the zygote's own CPU time."""

    def __init__(self, state: isolation.State, pgid: int):
        self.fd = getattr(state, "cpu_usage_fd", None)
        self.pgid = pgid
        self.base = self._raw()

    def _raw(self) -> float:
        if self.fd is not None:
            return int(os.pread(self.fd, 32, 0)) / 1e9 - time.process_time()
        return _group_cpu(self.pgid)

    def used(self) -> float:
        return max(0.0, self._raw() - self.base) if self.fd is not None else self._raw()


def _group_cpu(pgid: int) -> float:
    """CPU seconds of the processes in process group ``pgid`` (the fallback without a cgroup): their own
    CPU plus that of the children they reaped (``cutime``/``cstime``), so work done in a short-lived
    child still counts; zombies (orphans not yet reaped by the zygote) are still listed."""
    total = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if len(fields) > 14 and int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
    return total / _TICK


def run_one(control: dict, job_fd: int, stdin_fd: int, state: isolation.State):
    """Run one request; returns (header, result_fd, stdout_fd, stderr_fd) with the fds to relay."""
    workdir = _fresh_workdir(state)
    vm, rss = _baseline_vm()
    caps = {"result": int(control["result_cap_bytes"]), "stdout": int(control["stdout_cap_bytes"]),
            "stderr": int(control["stderr_cap_bytes"])}
    limits = {
        "cpu_s": int(control["rlimit_cpu_s"]),
        "as_bytes": int(control["memory_limit_bytes"]) + vm,
        # one limit for every file the child writes: the larger of the file and stream caps, plus one
        # byte so that exceeding a stream cap is visible
        "fsize_bytes": max(int(control["file_size_bytes"]), caps["stdout"], caps["stderr"]) + 1,
        "open_files": int(control["open_files"]),
        "processes": int(control["processes"]),
    }
    isolation.set_memory_limit(state, int(control["memory_limit_bytes"]) + rss + (64 << 20))
    out_fd = os.memfd_create("stdout", os.MFD_CLOEXEC)
    err_fd = os.memfd_create("stderr", os.MFD_CLOEXEC)
    store_fd = os.memfd_create("result", os.MFD_CLOEXEC)  # the zygote's copy; the child never has it
    result_r, result_w = os.pipe2(os.O_CLOEXEC)
    if fcntl is not None:
        try:
            fcntl(result_w, F_SETPIPE_SZ, 1 << 20)
        except OSError:
            pass
    os.set_blocking(result_r, False)
    setup_r, setup_w = os.pipe2(os.O_CLOEXEC)
    start = time.monotonic()
    reaped_before = _children_cpu()
    pid = _fork()
    if pid == 0:  # ---- child ----
        try:
            os.setpgid(0, 0)
            import child  # already imported by the zygote: a dict lookup

            job = child.read_job(job_fd)  # into the child's own memory; the zygote never read it
            for target, fd in ((0, stdin_fd), (1, out_fd), (2, err_fd), (3, result_w), (4, setup_w)):
                os.dup2(fd, target)  # dup2 clears close-on-exec on the copies
            isolation.enter_child(state, limits, workdir)
            os.write(4, b"R")
        except BaseException as exc:  # noqa: BLE001 - report, never run the program half-isolated
            try:
                os.write(4, b"F" + repr(exc).encode()[:500])
            finally:
                os._exit(113)
        child.run(job, 3, 4)
        os._exit(0)
    # ---- zygote ----
    for fd in (stdin_fd, job_fd, result_w, setup_w):
        os.close(fd)
    try:
        os.setpgid(pid, pid)
    except OSError:
        pass  # the child already did it, or already exited
    clock = _Clock(state, pid)
    header = {"exit_code": None, "signal": None, "killed_for": None, "output_limit": None, "infra": None,
              "oom": False, "compiled": None, "retire": None}
    stamps_cpu: list[float] = []
    stamps_wall: list[float] = []
    watch = _Watch(control, result_r, store_fd, caps["result"], clock, start, stamps_cpu, stamps_wall)
    header["killed_for"] = watch.wait(pid)
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    rusage_cpu = 0.0
    try:
        _, status, usage = os.wait4(pid, 0)
        rusage_cpu = usage.ru_utime + usage.ru_stime
        if os.WIFEXITED(status):
            header["exit_code"] = os.WEXITSTATUS(status)
        elif os.WIFSIGNALED(status):
            header["signal"] = os.WTERMSIG(status)
    except ChildProcessError:
        header["infra"] = "child vanished before it was reaped"
    if not _sweep_cgroup(state):
        header["retire"] = "processes survived the cgroup sweep"
    _reap_orphans()
    watch.drain()
    os.close(result_r)
    header["wall_time_s"] = time.monotonic() - start
    # without a cgroup: every process of the sample is reaped by now (the child, its reaped children, and
    # orphans the zygote reaped as subreaper), so the zygote's children-rusage delta holds all their CPU
    reaped = _children_cpu() - reaped_before
    header["cpu_time_s"] = max(clock.used(), watch.cpu_seen) if clock.fd is not None else max(watch.cpu_seen, rusage_cpu, reaped)
    header["record_cpu_s"], header["record_wall_s"] = stamps_cpu, stamps_wall
    if watch.overflow:
        header["output_limit"] = "result"
    if header["signal"] == signal.SIGKILL and not header["killed_for"]:
        seen = isolation.oom_kills(state)
        header["oom"] = seen > state.oom_seen
        state.oom_seen = seen
    os.set_blocking(setup_r, False)
    try:
        ready = os.read(setup_r, 600)
    except BlockingIOError:
        ready = b""
    os.close(setup_r)
    if not ready.startswith(b"R"):
        header["infra"] = "child setup failed: " + (ready[1:].decode(errors="replace") if ready else "no answer")
    elif ready[1:2] in (b"C", b"S"):
        header["compiled"] = ready[1:2] == b"C"
    for name, fd in (("stdout", out_fd), ("stderr", err_fd)):
        if os.fstat(fd).st_size > caps[name] and header["output_limit"] is None:
            header["output_limit"] = name
    if not _remove_workdir(workdir, state):
        header["retire"] = "could not remove the sample's directory"
    return header, (store_fd, caps["result"]), (out_fd, caps["stdout"]), (err_fd, caps["stderr"])


class _Watch:
    """Sleeps until the child exits or a clock runs out; copies result records as they arrive."""

    def __init__(self, control, result_r, store_fd, cap, clock, start, stamps_cpu, stamps_wall):
        self.n_records = int(control["n_records"])
        self.test_cpu = float(control["test_cpu_limit_s"])
        self.test_wall = float(control["test_wall_limit_s"])
        self.sample_cpu = float(control["sample_cpu_limit_s"])
        self.sample_wall = float(control["sample_wall_limit_s"])
        self.result_r, self.store_fd, self.cap, self.clock, self.start = result_r, store_fd, cap, clock, start
        self.stamps_cpu, self.stamps_wall = stamps_cpu, stamps_wall
        self.size = self.parsed = self.frames = 0
        self.overflow = False
        self.cpu_seen = 0.0

    def drain(self) -> bool:
        """Move what the pipe holds into the store (at most cap + 1 bytes); True when new records completed."""
        while not self.overflow:
            try:
                n = os.splice(self.result_r, self.store_fd, min(1 << 20, self.cap + 1 - self.size), flags=os.SPLICE_F_NONBLOCK)
            except BlockingIOError:
                break
            if n <= 0:
                break
            self.size += n
            if self.size > self.cap:
                self.overflow = True
        before = self.frames
        while self.size - self.parsed >= 4 and self.frames <= self.n_records:
            length = int.from_bytes(os.pread(self.store_fd, 4, self.parsed), "big")
            if self.size - self.parsed - 4 < length:
                break
            self.parsed += 4 + length
            self.frames += 1
        return self.frames > before

    def wait(self, pid: int) -> str | None:
        """None when the child exited or sent every record; else why it must be killed."""
        check_every = max(0.005, min(0.25, self.test_cpu / 4, self.test_wall / 4))
        deadline = self.start + min(self.test_wall, self.sample_wall)
        window_cpu = cpu = 0.0
        last_read = time.monotonic()
        pidfd = os.pidfd_open(pid)
        try:
            while True:
                now = time.monotonic()
                wake = min(deadline, now + check_every)
                ready = select.select([pidfd, self.result_r], [], [], max(0.0, wake - now))[0]
                now = time.monotonic()
                if self.clock.fd is not None or not ready or now - last_read >= check_every:
                    cpu, last_read = self.clock.used(), now  # without a cgroup this scans /proc: not per record
                    self.cpu_seen = max(self.cpu_seen, cpu)
                if self.result_r in ready and self.drain():
                    for _ in range(len(self.stamps_cpu), min(self.frames, self.n_records)):
                        self.stamps_cpu.append(cpu)
                        self.stamps_wall.append(now - self.start)
                    if self.frames >= self.n_records:
                        return None  # every record is in: whatever the child does now does not matter
                    window_cpu = cpu
                    deadline = min(now + self.test_wall, self.start + self.sample_wall)
                if self.overflow:
                    return "output"
                if pidfd in ready:
                    return None
                if cpu - window_cpu > self.test_cpu:
                    return "test_cpu"
                if cpu > self.sample_cpu:
                    return "sample_cpu"
                if now >= deadline:
                    return "sample_wall" if now >= self.start + self.sample_wall else "test_wall"
        finally:
            os.close(pidfd)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _remove_workdir(path: str, state: isolation.State) -> bool:
    """The sample's directory is gone: its tmpfs detached (with everything on it), or one rmdir when the
    program left it empty (the common case), else the bounded, non-recursive walk of cleanup.py."""
    if state.full:
        try:
            isolation.unmount_workdir(state, path)
            os.rmdir(path)
            return True
        except OSError:
            return False
    try:
        os.rmdir(path)
        return True
    except OSError:
        return cleanup.remove_tree(path)


def _fork() -> int:
    """fork, waiting briefly while the last sample's killed processes still count against the pids limit."""
    for _ in range(200):
        try:
            return os.fork()
        except BlockingIOError:
            _reap_orphans()
            time.sleep(0.005)
    return os.fork()


def _sweep_cgroup(state: isolation.State) -> bool:
    """Kill whatever is left in the worker's cgroups and reap it; False when something survived."""
    if not state.cgroup_dirs:
        return True
    if isolation.pids_current(state) == 1:
        return True  # only the zygote: nothing of the sample is left (the common case; no file to list)
    for _ in range(200):
        pids = isolation.cgroup_pids(state)
        if not pids:
            return _wait_released(state)
        for other in pids:
            try:
                os.kill(other, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _reap_orphans()
        time.sleep(0.001)
    return not isolation.cgroup_pids(state) and _wait_released(state)


def _wait_released(state: isolation.State) -> bool:
    """A killed task leaves ``cgroup.procs`` before it has become a zombie and been reaped; ``pids.current``
    counts it until it is released. Reap until only the zygote is counted (bounded)."""
    if state.pids_current_fd is None:
        _reap_orphans()
        return True
    for _ in range(2000):
        _reap_orphans()
        if isolation.pids_current(state) <= 1:
            return True
        time.sleep(0.0005)
    return False


def _reap_orphans() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
