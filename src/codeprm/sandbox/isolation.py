"""Isolation mechanisms, set up once in the zygote and applied in each child. Stdlib + pyseccomp only.

``setup_zygote`` runs at zygote start-up and raises ``Missing(mechanism, why)`` when ``full`` isolation
was asked for and a required mechanism is unavailable: the parent turns that into a CodeprmError
naming the weaker opt-in mode, so isolation is never silently downgraded.
``enter_child`` runs in the forked child, before any user code, and must be fast (it runs per sample).
"""

from __future__ import annotations

import ctypes
import errno
import os
import resource
import stat

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, PR_SET_CHILD_SUBREAPER = 1, 38, 22, 36
SECCOMP_MODE_FILTER = 2

# Syscalls a test program has no business making. Denied with EPERM (the program sees an OSError).
DENIED_SYSCALLS = (
    "socket ptrace process_vm_readv process_vm_writev mount umount2 pivot_root chroot unshare setns "
    "setsid setpgid execve execveat kexec_load kexec_file_load reboot init_module finit_module "
    "delete_module bpf perf_event_open keyctl add_key request_key userfaultfd io_uring_setup "
    "io_uring_enter io_uring_register open_by_handle_at name_to_handle_at swapon swapoff acct "
    "settimeofday clock_settime clock_adjtime adjtimex sethostname setdomainname quotactl syslog "
    "vhangup fanotify_init memfd_create iopl ioperm mknod mknodat personality move_mount fsopen "
    "fsmount open_tree lookup_dcookie"
).split()
# Namespace flags a clone() may not carry (arg 0 of clone is the flags on x86-64 and arm64):
# NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME.
CLONE_NAMESPACE_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000, 0x00000080)


class Missing(Exception):
    """A required isolation mechanism is unavailable: args are (mechanism, why)."""


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class State:
    """What the zygote prepared once and every child reuses."""

    def __init__(self, config: dict):
        self.config = config
        self.full = config["isolation"] == "full"
        self.libc = ctypes.CDLL(None, use_errno=True)
        # explicit argument types: ctypes would otherwise pass Python ints as 32-bit C ints
        self.libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
        self.libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
        self.libc.unshare.argtypes = [ctypes.c_int]
        self.mechanisms: dict[str, str] = {}
        self.uid: int | None = None
        self.gid: int | None = None
        self.bpf: _SockFprog | None = None
        self._bpf_buf = None
        self.tmp_root = config["tmp_root"]
        self.cgroup_procs_fds: list[int] = []
        self.cgroup_dirs: dict[str, str] = {}
        self.mem_limit_set: int | None = None
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
        _compile_seccomp(state)  # before the filesystem is locked down: pyseccomp lives in site-packages
        _private_filesystem(state)
        state.uid, state.gid = int(config["uid"]), int(config["uid"])
        state.mechanisms["uid"] = f"samples run as uid {state.uid} with no groups"
    else:
        os.makedirs(state.tmp_root, exist_ok=True)
        state.mechanisms["filesystem"] = f"private cwd under {state.tmp_root} only (rest of the filesystem as the host user sees it)"
    _join_cgroups(state)
    state.mechanisms["rlimits"] = "CPU, address space, processes, file size, open files, no core dumps"
    return state


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
    if os.path.isdir("/dev/shm"):
        _tmpfs(state, "/dev/shm", "size=4k,nr_inodes=16,mode=0755", readonly=True)
    os.makedirs(state.tmp_root, mode=0o755, exist_ok=True)
    state.mechanisms["filesystem"] = (
        f"private mount namespace, all mounts read-only, per-sample dir on a {cfg['tmp_size_mb']} MiB tmpfs /tmp, "
        f"/dev/shm read-only, hidden: {', '.join(hidden) or 'none'}"
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


def _compile_seccomp(state: State) -> None:
    try:
        import pyseccomp as sc
    except Exception as exc:  # noqa: BLE001 - ImportError or libseccomp missing (OSError/RuntimeError)
        raise Missing("seccomp", f"pyseccomp/libseccomp unavailable ({exc})") from None
    try:
        filt = sc.SyscallFilter(defaction=sc.ALLOW)
        denied = []
        for name in DENIED_SYSCALLS:
            try:
                filt.add_rule(sc.ERRNO(errno.EPERM), name)
                denied.append(name)
            except Exception:  # noqa: BLE001 - syscall unknown on this architecture
                pass
        for flag in CLONE_NAMESPACE_FLAGS:
            filt.add_rule(sc.ERRNO(errno.EPERM), "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
        filt.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")  # its flags live in memory seccomp cannot read; libc falls back to clone
        read_fd, write_fd = os.pipe()
        with os.fdopen(write_fd, "wb") as out:
            filt.export_bpf(out)
        with os.fdopen(read_fd, "rb") as inp:
            program = inp.read()
    except Exception as exc:  # noqa: BLE001
        raise Missing("seccomp", f"could not build the seccomp filter ({exc})") from None
    state._bpf_buf = ctypes.create_string_buffer(program, len(program))
    state.bpf = _SockFprog(len(program) // 8, ctypes.addressof(state._bpf_buf))
    state.mechanisms["seccomp"] = f"BPF filter ({len(program) // 8} instructions) denying {len(denied)} syscalls incl. socket, ptrace, execve, namespace clones"


def _join_cgroups(state: State) -> None:
    """Open the cgroup.procs of this worker's v1 memory/pids cgroups (created by the parent); each child
    moves itself in before dropping root, so its whole process tree is counted and can be swept."""
    for controller, path in (state.config.get("cgroups") or {}).items():
        state.cgroup_procs_fds.append(os.open(os.path.join(path, "cgroup.procs"), os.O_WRONLY))
        state.cgroup_dirs[controller] = path
    if state.cgroup_dirs:
        state.mechanisms["cgroup"] = "v1 " + "+".join(sorted(state.cgroup_dirs))


def set_memory_limit(state: State, limit_bytes: int) -> None:
    path = state.cgroup_dirs.get("memory")
    if path and limit_bytes != state.mem_limit_set:
        for name in ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes"):
            try:
                with open(os.path.join(path, name), "w") as fh:
                    fh.write(str(limit_bytes))
            except OSError:
                pass  # memsw absent without swap accounting; shrinking below usage can fail
        state.mem_limit_set = limit_bytes


def oom_kills(state: State) -> int:
    path = state.cgroup_dirs.get("memory")
    if not path:
        return 0
    with open(os.path.join(path, "memory.oom_control")) as fh:
        for line in fh:
            if line.startswith("oom_kill "):
                return int(line.split()[1])
    return 0


def cgroup_pids(state: State) -> list[int]:
    pids: set[int] = set()
    for path in state.cgroup_dirs.values():
        with open(os.path.join(path, "cgroup.procs")) as fh:
            pids.update(int(x) for x in fh.read().split())
    pids.discard(state.zygote_pid)
    return sorted(pids)


def enter_child(state: State, limits: dict, workdir: str) -> None:
    """In the forked child, before user code: cgroups, fds, rlimits, cwd, uid, seccomp."""
    for fd in state.cgroup_procs_fds:
        os.write(fd, b"0")
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
