"""Runs one compiler under its own limits: ``python -I -S jail.py CONFIG_JSON CMD...`` (stdlib only).

Compilers are untrusted-input processors too (template bombs, ``#include </dev/zero>``, giant
diagnostics, ``#include "/some/secret"``), so before ``exec``ing the compiler this process: enters new
mount and network namespaces (no network; tmpfs laid over ``hide`` paths such as /root, /home, /work,
so sources cannot include the host's data; a /proc showing only its own processes), sets rlimits (CPU, address space, file size,
processes, no core), drops to an unprivileged uid with no groups, and scrubs the environment. Any step
that fails ends it with exit status 125 and a line on stderr: it never compiles half-isolated (unless
the config says ``isolate: false``, the sandbox's rlimits-only mode).
"""

import ctypes
import json
import os
import resource
import sys

CLONE_NEWNS, CLONE_NEWNET = 0x00020000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 1, 2, 4, 8, 16384, 1 << 18


def fail(why: str) -> None:
    os.write(2, f"codeprm compile jail: {why}\n".encode())
    os._exit(125)


def main() -> None:
    config = json.loads(sys.argv[1])
    cmd = sys.argv[2:]
    if config["isolate"]:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(CLONE_NEWNS | CLONE_NEWNET) != 0:
            fail(f"unshare: {os.strerror(ctypes.get_errno())}")
        if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
            fail(f"making / private: {os.strerror(ctypes.get_errno())}")
        # a fresh /proc that shows this compile only its own processes (the loader resolves $ORIGIN through it)
        if libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, b"hidepid=2") != 0:
            fail(f"mounting /proc: {os.strerror(ctypes.get_errno())}")
        for path in config["hide"]:
            if os.path.isdir(path) and libc.mount(b"tmpfs", path.encode(), b"tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV,
                                                  b"size=4k,nr_inodes=16,mode=0555") != 0:
                fail(f"hiding {path}: {os.strerror(ctypes.get_errno())}")
    limits = ((resource.RLIMIT_CPU, config["cpu_s"]), (resource.RLIMIT_AS, config["memory_bytes"]),
              (resource.RLIMIT_FSIZE, config["file_bytes"]), (resource.RLIMIT_CORE, 0))
    try:
        for what, value in limits:
            resource.setrlimit(what, (value, value))
        if config["isolate"]:
            resource.setrlimit(resource.RLIMIT_NPROC, (config["processes"], config["processes"]))
            os.setgroups([])
            os.setgid(config["uid"])
            os.setuid(config["uid"])
        os.chdir(config["cwd"])
    except OSError as exc:
        fail(f"limits/uid: {exc}")
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C", "LC_ALL": "C", "TMPDIR": config["cwd"], "HOME": config["cwd"]}
    try:
        os.execve(cmd[0], cmd, env)  # an absolute path: the interpreter's own files may be hidden by now
    except OSError as exc:
        fail(f"exec {cmd[0]}: {exc}")


if __name__ == "__main__":
    main()
