"""The seccomp filter every sample runs under, compiled once per host process with pyseccomp.

The zygote receives the BPF program as bytes and each child installs it with one prctl; the zygote
itself never imports pyseccomp (whose ctypes.util import would pull in threading, whose at-fork
handlers cost every fork about half a millisecond).
"""

from __future__ import annotations

import errno
import functools
import os

# Syscalls a test program has no business making. Denied with EPERM (the program sees an OSError).
DENIED_SYSCALLS = (
    "socket ptrace process_vm_readv process_vm_writev mount umount2 pivot_root chroot unshare setns "
    "setsid setpgid execve execveat kexec_load kexec_file_load reboot init_module finit_module "
    "delete_module bpf perf_event_open keyctl add_key request_key userfaultfd io_uring_setup "
    "io_uring_enter io_uring_register open_by_handle_at name_to_handle_at swapon swapoff acct "
    "settimeofday clock_settime clock_adjtime adjtimex sethostname setdomainname quotactl syslog "
    "vhangup fanotify_init memfd_create iopl ioperm mknod mknodat personality move_mount fsopen "
    "fsmount open_tree lookup_dcookie shmget msgget semget mq_open "  # SysV/POSIX IPC objects outlive the sample
    # channels between samples through shared host files and host-wide effects: page-cache eviction and
    # residency probes, locks on the shared read-only stdlib files, host-wide writeback
    "fadvise64 readahead mincore flock sync syncfs"
).split()
# fcntl commands that take or test a lock (on a shared read-only file, visible to a concurrent sample):
# F_GETLK, F_SETLK, F_SETLKW, F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW
FCNTL_LOCK_COMMANDS = (5, 6, 7, 36, 37, 38)
PR_SET_DUMPABLE = 4  # a dumpable crash could reach the host's core_pattern handler
# Namespace flags a clone() may not carry (arg 0 of clone is the flags on x86-64 and arm64):
# NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME.
CLONE_NAMESPACE_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000, 0x00000080)


class SeccompUnavailable(Exception):
    """pyseccomp or libseccomp is missing, or the filter could not be built."""


@functools.lru_cache(maxsize=1)
def compile_bpf() -> tuple[bytes, str]:
    """(BPF program, one-line summary) of the sandbox's seccomp filter for this machine's architecture."""
    try:
        import pyseccomp as sc
    except Exception as exc:  # noqa: BLE001 - ImportError, or OSError/RuntimeError when libseccomp is absent
        raise SeccompUnavailable(f"pyseccomp/libseccomp unavailable ({exc})") from None
    try:
        filt = sc.SyscallFilter(defaction=sc.ALLOW)
        denied = 0
        for name in DENIED_SYSCALLS:
            try:
                filt.add_rule(sc.ERRNO(errno.EPERM), name)
                denied += 1
            except Exception:  # noqa: BLE001 - syscall unknown on this architecture
                pass
        for flag in CLONE_NAMESPACE_FLAGS:
            filt.add_rule(sc.ERRNO(errno.EPERM), "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
        for cmd in FCNTL_LOCK_COMMANDS:
            filt.add_rule(sc.ERRNO(errno.EPERM), "fcntl", sc.Arg(1, sc.EQ, cmd))
        filt.add_rule(sc.ERRNO(errno.EPERM), "prctl", sc.Arg(0, sc.EQ, PR_SET_DUMPABLE))
        filt.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")  # its flags live in memory seccomp cannot read; libc falls back to clone
        read_fd, write_fd = os.pipe()
        with os.fdopen(write_fd, "wb") as out:
            filt.export_bpf(out)
        with os.fdopen(read_fd, "rb") as inp:
            program = inp.read()
    except Exception as exc:  # noqa: BLE001
        raise SeccompUnavailable(f"could not build the seccomp filter ({exc})") from None
    return program, (f"denies {denied} syscalls (socket, ptrace, execve, mount, unshare, setsid, fadvise64, flock, "
                     "sync, ...), fcntl locks, PR_SET_DUMPABLE and namespace clones")
