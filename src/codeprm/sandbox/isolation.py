"""Isolation mechanisms, set up once in the zygote and applied in each child. Stdlib only.

``setup_zygote`` runs at zygote start-up and raises ``Missing(mechanism, why)`` when ``full`` isolation
was asked for and a required mechanism is unavailable: the parent turns that into a CodeprmError
naming the weaker opt-in mode, so isolation is never silently downgraded.
``enter_child`` runs in the forked child, before any user code, and must be fast (it runs per sample).
"""

from __future__ import annotations

import ctypes
import os
import resource
import stat

import rootfs

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, PR_SET_CHILD_SUBREAPER = 1, 38, 22, 36
SECCOMP_MODE_FILTER = 2

class Missing(Exception):
    """A required isolation mechanism is unavailable: args are (mechanism, why)."""


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class State:
    """What the zygote prepared once and every child reuses."""

    def __init__(self, config: dict):
        self.config = config
        self.full = config["isolation"] in ("full", "weaker")  # namespaces, uid, seccomp in both
        self.strict = config["isolation"] == "full"  # and nothing less than the allow-list root
        self.libc = ctypes.CDLL(None, use_errno=True)
        # explicit argument types: ctypes would otherwise pass Python ints as 32-bit C ints
        self.libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
        self.libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
        self.libc.unshare.argtypes = [ctypes.c_int]
        self.libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
        self.mechanisms: dict[str, str] = {}
        self.uid: int | None = None
        self.gid: int | None = None
        self.bpf: _SockFprog | None = None
        self._bpf_buf = None
        self.tmp_root = config["tmp_root"]
        self.cgroup_dirs: dict[str, str] = {}
        self.mem_limit_set: int | None = None
        self.oom_seen = 0
        self.memory_procs_fd: int | None = None
        self.cpu_usage_fd: int | None = None
        self.pids_current_fd: int | None = None
        self.zygote_pid = os.getpid()

    def call(self, name: str, *args) -> None:
        if getattr(self.libc, name)(*args) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"{name}: {os.strerror(err)}")


def setup_zygote(config: dict) -> State:
    state = State(config)
    state.call("prctl", PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # orphans of a child come back to be reaped
    if state.full:
        if os.geteuid() != 0:
            raise Missing("root", "full isolation runs each sample as a dedicated unprivileged uid, which needs root")
        try:
            state.call("unshare", CLONE_NEWNS | CLONE_NEWNET)
        except OSError as exc:
            raise Missing("mount+network namespaces", str(exc)) from None
        state.mechanisms["network"] = "private network namespace (no interfaces up)"
        _load_seccomp(state)
        _allow_list_filesystem(state)
        state.uid, state.gid = int(config["uid"]), int(config["uid"])
        state.mechanisms["uid"] = f"samples run as uid {state.uid} with no groups"
    else:
        os.makedirs(state.tmp_root, exist_ok=True)
        state.mechanisms["filesystem"] = f"private cwd under {state.tmp_root} only (rest of the filesystem as the host user sees it)"
    rootfs.extend_sys_path(config)
    _join_cgroups(state)
    state.mechanisms["rlimits"] = "CPU, address space, processes, file size, open files, no core dumps"
    return state


def _allow_list_filesystem(state: State) -> None:
    """The sample's root is an allow-list (rootfs.py); where that cannot be built, the host's filesystem
    read-only minus ``hide_paths`` (below), marked WEAKER so the parent logs a warning."""
    cfg = state.config
    try:
        if not cfg.get("rootfs"):
            raise OSError(0, "no allow-list was supplied")
        proc_note = rootfs.build(state, f"size={int(cfg['tmp_size_mb'])}m,nr_inodes={int(cfg['tmp_inodes'])},mode=0755")
    except OSError as exc:
        if state.strict:  # fail closed: the host's filesystem only when the caller asked for isolation="weaker"
            raise Missing("allow-list root filesystem", str(exc)) from None
        os.chdir("/")
        _private_filesystem(state)
        state.mechanisms["filesystem"] += f"; WEAKER: host filesystem visible (allow-list root failed: {exc})"
        state.mechanisms["visible"] = "the host's filesystem, read-only, minus the hidden paths"
        return
    os.makedirs(state.tmp_root, mode=0o755, exist_ok=True)
    state.mechanisms["filesystem"] = (
        f"private mount namespace whose root is an allow-list (see visible), read-only except the per-sample dir "
        f"on a {cfg['tmp_size_mb']} MiB tmpfs /tmp; {proc_note}")
    state.mechanisms["visible"] = rootfs.describe(cfg, int(cfg["tmp_size_mb"]), proc_note)


def _private_filesystem(state: State) -> None:
    """Everything read-only, a size-limited tmpfs on /tmp, configured paths hidden (this ns only)."""
    cfg = state.config
    state.call("mount", None, b"/", None, MS_REC | MS_PRIVATE, None)  # nothing below propagates to the host
    failed = []
    for mount_point, opts in _mounts():
        if mount_point == "/proc" or mount_point.startswith("/proc/") or mount_point.startswith("/sys/fs/cgroup"):
            continue  # procfs stays writable for /proc/self; cgroup files are root-only
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY
        flags |= (MS_NOSUID if "nosuid" in opts else 0) | (MS_NODEV if "nodev" in opts else 0) | (MS_NOEXEC if "noexec" in opts else 0)
        try:
            state.call("mount", None, mount_point.encode(), None, flags, None)
        except OSError:
            failed.append(mount_point)
    if "/" in failed:
        raise Missing("read-only filesystem", "could not remount / read-only in the private mount namespace")
    for path in cfg.get("expose_paths", []):
        _expose(state, path)
    hidden = []
    for path in cfg.get("hide_paths", []):
        if os.path.isdir(path):
            _tmpfs(state, path, "size=4k,nr_inodes=16,mode=0555", readonly=True)
            hidden.append(path)
    _tmpfs(state, "/tmp", f"size={int(cfg['tmp_size_mb'])}m,nr_inodes={int(cfg['tmp_inodes'])},mode=0755")
    try:  # a procfs of our own in which a sample sees only its own uid's processes (not the host's command lines)
        state.call("mount", b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, b"hidepid=2")
        proc_note = "/proc shows a sample only its own processes"
    except OSError as exc:
        proc_note = f"/proc shows every process ({exc.strerror})"
    if os.path.isdir("/dev/shm"):
        _tmpfs(state, "/dev/shm", "size=4k,nr_inodes=16,mode=0755", readonly=True)
    os.makedirs(state.tmp_root, mode=0o755, exist_ok=True)
    state.mechanisms["filesystem"] = (
        f"private mount namespace, all mounts read-only, per-sample dir on a {cfg['tmp_size_mb']} MiB tmpfs /tmp, "
        f"/dev/shm read-only, {proc_note}, hidden: {', '.join(hidden) or 'none'}"
        + (f" (left writable: {', '.join(failed)})" if failed else "")
    )


def _mounts() -> list[tuple[str, set[str]]]:
    out = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            fields = line.split()
            point = fields[4].encode().decode("unicode_escape")
            out.append((point, set(fields[5].split(","))))
    return out


def _tmpfs(state: State, path: str, options: str, readonly: bool = False) -> None:
    state.call("mount", b"tmpfs", path.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, options.encode())
    if readonly:
        state.call("mount", None, path.encode(), None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, None)


def _expose(state: State, path: str) -> None:
    """Make ``path`` reachable by the sample uid when an ancestor is not (e.g. /root is 0700): a tmpfs
    replaces that ancestor in this namespace and ``path`` alone is bind-mounted back, read-only."""
    path = os.path.realpath(path)
    parts = path.strip("/").split("/")
    for depth in range(1, len(parts) + 1):
        ancestor = "/" + "/".join(parts[:depth])
        if not os.path.isdir(ancestor):
            return
        if os.stat(ancestor).st_mode & (stat.S_IXOTH | stat.S_IROTH) != (stat.S_IXOTH | stat.S_IROTH):
            break
    else:
        return
    keep = os.open(path, os.O_PATH)
    try:
        _tmpfs(state, ancestor, "size=64k,nr_inodes=256,mode=0755")
        os.makedirs(path, mode=0o755, exist_ok=True)
        state.call("mount", f"/proc/self/fd/{keep}".encode(), path.encode(), None, MS_BIND | MS_REC, None)
        state.call("mount", None, path.encode(), None, MS_REMOUNT | MS_BIND | MS_RDONLY, None)
        state.call("mount", None, ancestor.encode(), None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, None)
    finally:
        os.close(keep)


def _load_seccomp(state: State) -> None:
    """The parent compiled the filter once (pyseccomp); every child installs the same BPF program."""
    program = bytes.fromhex(state.config.get("seccomp_bpf") or "")
    if not program or len(program) % 8:
        raise Missing("seccomp", "no seccomp BPF program was supplied")
    state._bpf_buf = ctypes.create_string_buffer(program, len(program))
    state.bpf = _SockFprog(len(program) // 8, ctypes.addressof(state._bpf_buf))
    state.mechanisms["seccomp"] = f"BPF filter ({len(program) // 8} instructions): {state.config.get('seccomp_summary', '')}"


def _join_cgroups(state: State) -> None:
    """Use this worker's v1 cgroups (created by the parent). The zygote itself joins the pids cgroup, so
    children are born inside it at no cost. The memory cgroup is joined by each child (a write before it
    drops root): were the zygote inside, the cgroup's OOM killer could pick it, and a program could then
    turn its own failure into an infra_error; lowering the zygote's oom_score_adj is not always allowed."""
    for controller, path in (state.config.get("cgroups") or {}).items():
        if controller == "memory":
            state.memory_procs_fd = os.open(os.path.join(path, "cgroup.procs"), os.O_WRONLY)
        elif controller == "cpuacct":  # the zygote joins (a migration per child costs ms); supervise subtracts its own CPU
            state.cpu_usage_fd = os.open(os.path.join(path, "cpuacct.usage"), os.O_RDONLY)
            with open(os.path.join(path, "cgroup.procs"), "w") as fh:
                fh.write(str(os.getpid()))
        else:
            with open(os.path.join(path, "cgroup.procs"), "w") as fh:
                fh.write(str(os.getpid()))
            if controller == "pids":
                state.pids_current_fd = os.open(os.path.join(path, "pids.current"), os.O_RDONLY)
        state.cgroup_dirs[controller] = path
    if state.cgroup_dirs:
        state.mechanisms["cgroup"] = "v1 " + "+".join(sorted(state.cgroup_dirs))
        state.oom_seen = oom_kills(state)


def set_memory_limit(state: State, limit_bytes: int) -> None:
    """Set the worker's memory limit to ``limit_bytes`` whatever it was, and read it back. Cgroup v1
    refuses a ``memory.limit_in_bytes`` above ``memory.memsw.limit_in_bytes`` (and a memsw below the
    memory limit), so raising writes memsw first and lowering writes it last."""
    path = state.cgroup_dirs.get("memory")
    if not path or limit_bytes == state.mem_limit_set:
        return
    names = ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]
    if limit_bytes > (state.mem_limit_set if state.mem_limit_set is not None else _read_int(path, names[0])):
        names.reverse()
    for name in names:
        try:
            with open(os.path.join(path, name), "w") as fh:
                fh.write(str(limit_bytes))
        except FileNotFoundError:
            pass  # memsw absent without swap accounting
    got = _read_int(path, "memory.limit_in_bytes")
    if abs(got - limit_bytes) >= 1 << 16:  # the kernel rounds to pages
        state.mem_limit_set = None
        raise OSError(f"memory cgroup limit reads {got}, not {limit_bytes}")
    state.mem_limit_set = limit_bytes


def _read_int(path: str, name: str) -> int:
    with open(os.path.join(path, name)) as fh:
        return int(fh.read())


MNT_DETACH = 2


def mount_workdir(state: State, path: str) -> None:
    """A fresh tmpfs for one sample (its own size, inode limit and inode numbering)."""
    cfg = state.config
    opts = f"size={int(cfg['tmp_size_mb'])}m,nr_inodes={int(cfg['tmp_inodes'])},mode=0700"
    state.call("mount", b"tmpfs", path.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, opts.encode())


def unmount_workdir(state: State, path: str) -> None:
    state.call("umount2", path.encode(), MNT_DETACH)


def oom_kills(state: State) -> int:
    """OOM kills so far in this worker's memory cgroup (0 without one)."""
    path = state.cgroup_dirs.get("memory")
    if not path:
        return 0
    with open(os.path.join(path, "memory.oom_control")) as fh:
        for line in fh:
            if line.startswith("oom_kill "):
                return int(line.split()[1])
    return 0


def pids_current(state: State) -> int:
    """Tasks the worker's pids cgroup counts, the zygote and not yet released zombies included (-1 without one)."""
    if state.pids_current_fd is None:
        return -1
    return int(os.pread(state.pids_current_fd, 32, 0))


def cgroup_pids(state: State) -> list[int]:
    """Processes left in the worker's cgroup (both controllers hold the same children; read one). The
    file is opened afresh each time: a v1 ``cgroup.procs`` keeps the list it had when it was opened."""
    path = state.cgroup_dirs.get("pids") or state.cgroup_dirs.get("memory") or state.cgroup_dirs["cpuacct"]
    fd = os.open(os.path.join(path, "cgroup.procs"), os.O_RDONLY)
    try:
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(fd)
    pids = {int(x) for x in b"".join(chunks).split()}
    pids.discard(state.zygote_pid)
    return sorted(pids)


def enter_child(state: State, limits: dict, workdir: str) -> None:
    """In the forked child, before user code: cgroups, fds, rlimits, cwd, uid, seccomp."""
    if state.memory_procs_fd is not None:
        os.write(state.memory_procs_fd, b"0")
    os.closerange(5, 1 << 16)  # 0-2 stdio, 3 results, 4 the setup pipe
    state.call("prctl", PR_SET_PDEATHSIG, 9, 0, 0, 0)
    if os.getppid() != state.zygote_pid:  # the zygote died between fork and prctl
        os._exit(1)
    cpu = limits["cpu_s"]
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))  # soft == hard: SIGKILL, not a catchable SIGXCPU
    resource.setrlimit(resource.RLIMIT_AS, (limits["as_bytes"], limits["as_bytes"]))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["fsize_bytes"], limits["fsize_bytes"]))
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits["open_files"], limits["open_files"]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if state.uid is not None:
        resource.setrlimit(resource.RLIMIT_NPROC, (limits["processes"], limits["processes"]))
        os.chown(workdir, state.uid, state.gid)
    os.chdir(workdir)
    os.environ["TMPDIR"] = os.environ["HOME"] = workdir
    if state.uid is not None:
        os.setgroups([])
        os.setresgid(state.gid, state.gid, state.gid)
        os.setresuid(state.uid, state.uid, state.uid)
    if state.bpf is not None:
        state.call("prctl", PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        state.call("prctl", PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(state.bpf), 0, 0)
