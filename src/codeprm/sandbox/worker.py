"""Host-side handle of one zygote process: start it, send requests, kill and replace it."""

from __future__ import annotations

import atexit
import json
import os
import random
import select
import site
import subprocess
import sys
import sysconfig
import time
import weakref
from pathlib import Path

from codeprm.errors import CodeprmError
from codeprm.sandbox import rootfs, seccomp_filter
from codeprm.sandbox.config import SandboxConfig

ZYGOTE = Path(__file__).with_name("jail") / "zygote.py"


class WorkerDied(Exception):
    """The zygote stopped answering (crashed, killed, or exceeded the host-side deadline)."""


class Missing(CodeprmError):
    """A required isolation mechanism is unavailable."""


def default_hide_paths() -> list[str]:
    paths = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], site.getusersitepackages(), os.getcwd()}
    stdlib = os.path.realpath(sysconfig.get_paths()["stdlib"])
    # never hide the standard library or a directory holding it
    return sorted(p for p in paths if p and p != "/" and not (stdlib + "/").startswith(os.path.realpath(p) + "/"))


def _own_cgroup(controller: str) -> Path | None:
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if controller in controllers.split(","):
                return Path("/sys/fs/cgroup", controller) / path.lstrip("/")
    except OSError:
        return None
    return None


_swept_stale = False


def _remove_stale_cgroups() -> None:
    """rmdir the empty cgroups of codeprm hosts that died without closing their Sandbox (once per process)."""
    global _swept_stale
    if _swept_stale:
        return
    _swept_stale = True
    # A host PID we cannot see may be a live sandbox in another PID namespace. Its pids and cpuacct
    # cgroups hold its zygote (rmdir fails), but its memory cgroup is empty between samples: remove that
    # one only after the pids cgroup of the same name is gone.
    bases = {c: _own_cgroup(c) for c in ("pids", "cpuacct", "memory")}
    for controller, base in bases.items():
        if base is None or not base.is_dir():
            continue
        for path in [*base.glob("codeprm-*-*-*"), *base.parent.glob("*/codeprm-*-*-*")]:  # ours and sibling sessions
            host_pid = path.name.split("-")[1]
            if not host_pid.isdigit() or Path("/proc", host_pid).exists():
                continue
            if controller == "memory" and any(  # hierarchies may nest differently: match by name
                    b is not None and ((b / path.name).exists() or any(b.parent.glob("*/" + path.name)))
                    for c, b in bases.items() if c != "memory"):
                continue
            try:
                path.rmdir()  # fails, harmlessly, while a process is still inside
            except OSError:
                pass


_live: "weakref.WeakSet[Zygote]" = weakref.WeakSet()


@atexit.register
def _kill_live_zygotes() -> None:
    """A Sandbox that was never closed must not leave zygotes or cgroups behind."""
    for zygote in list(_live):
        try:
            zygote.kill()
        except Exception:  # noqa: BLE001 - best effort at interpreter exit
            pass


class Zygote:
    def __init__(self, config: SandboxConfig, index: int):
        self.config = config
        self.index = index
        self.cgroups: dict[str, str] = {}
        self.tmp_root = f"/tmp/codeprm-{os.getpid()}-{index}-{random.randrange(1 << 30)}"
        self.mechanisms: dict[str, str] = {}
        self.proc: subprocess.Popen | None = None
        _live.add(self)
        self._start()

    # ---- lifecycle -------------------------------------------------------------------------------
    def _make_cgroups(self) -> None:
        if self.config.cgroup == "off":
            return
        _remove_stale_cgroups()
        name = f"codeprm-{os.getpid()}-{self.index}-{random.randrange(1 << 30)}"
        problems = []
        for controller in ("memory", "pids", "cpuacct"):
            base = _own_cgroup(controller)
            try:
                if base is None or not base.is_dir():
                    raise OSError(f"no cgroup v1 '{controller}' hierarchy")
                path = base / name
                path.mkdir()
                self.cgroups[controller] = str(path)
                if controller == "pids":
                    (path / "pids.max").write_text(str(self.config.max_processes + 8))
            except OSError as exc:
                problems.append(f"{controller}: {exc}")
        if problems and self.config.cgroup == "required":
            self._remove_cgroups()
            raise Missing(f"cgroup limits are required but unavailable ({'; '.join(problems)}); "
                          "use Sandbox(cgroup='auto') to run with rlimits alone")

    def _remove_cgroups(self) -> None:
        for path in self.cgroups.values():
            for _ in range(50):
                try:
                    for pid in Path(path, "cgroup.procs").read_text().split():
                        try:
                            os.kill(int(pid), 9)
                        except ProcessLookupError:
                            pass
                    os.rmdir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)
        self.cgroups = {}

    def _start(self) -> None:
        cfg = self.config
        self._make_cgroups()
        hide = cfg.hide_paths if cfg.hide_paths is not None else default_hide_paths()
        self.uid = random.randrange(1_000_000, 2_000_000_000) if cfg.isolation != "rlimits-only" else None  # no real account has it
        zconfig = {
            "isolation": cfg.isolation,
            "uid": self.uid,
            "tmp_root": "/tmp/s" if cfg.isolation != "rlimits-only" else self.tmp_root,
            "tmp_size_mb": cfg.tmp_size_mb,
            "tmp_inodes": cfg.tmp_inodes,
            "hide_paths": hide,
            "expose_paths": sorted({sys.base_prefix, sys.prefix}),
            "rootfs": rootfs.plan(tuple(cfg.extra_paths), tuple(cfg.packages)),  # the sample's allow-list (rootfs.py)
            "cgroups": self.cgroups,
        }
        if cfg.isolation != "rlimits-only":
            try:
                bpf, summary = seccomp_filter.compile_bpf()
            except seccomp_filter.SeccompUnavailable as exc:
                self._remove_cgroups()
                raise Missing(f"sandbox isolation 'full' needs seccomp ({exc}); run where it is available or opt into "
                              "the weaker Sandbox(isolation='rlimits-only')") from None
            zconfig.update(seccomp_bpf=bpf.hex(), seccomp_summary=summary)
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONHASHSEED": "0"}
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-B", str(ZYGOTE)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, env=env, close_fds=True, start_new_session=True, cwd="/",
        )
        try:
            self._send(zconfig)
            hello = json.loads(self._read_frame(time.monotonic() + cfg.start_timeout_s))
        except WorkerDied as exc:
            self.kill()
            raise CodeprmError(f"sandbox worker failed to start ({exc})") from None
        if not hello.get("ok"):
            self.kill()
            raise Missing(
                f"sandbox isolation '{cfg.isolation}' needs {hello.get('missing')} ({hello.get('why')}); "
                "run where it is available or opt into a weaker mode by name: Sandbox(isolation='weaker') (no allow-list "
                "root: the host's filesystem read-only) or Sandbox(isolation='rlimits-only')"
            )
        self.mechanisms = hello["mechanisms"]

    def kill(self) -> None:
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, 9)
            except (ProcessLookupError, PermissionError):
                pass
            self.proc.kill()
            self.proc.wait()
            for stream in (self.proc.stdin, self.proc.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
            self.proc = None
        self._remove_cgroups()
        if self.config.isolation == "rlimits-only":
            from codeprm.sandbox.jail.cleanup import remove_tree

            remove_tree(self.tmp_root)  # a sample's tree may be deeper than shutil.rmtree can recurse

    def restart(self) -> None:
        self.kill()
        self._start()

    # ---- protocol --------------------------------------------------------------------------------
    def _send(self, obj: dict) -> None:
        data = json.dumps(obj).encode()
        try:
            self.proc.stdin.write(len(data).to_bytes(4, "big") + data)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError) as exc:
            raise WorkerDied(f"could not write to the zygote: {exc}") from None

    def _read_exact(self, n: int, deadline: float) -> bytes:
        fd = self.proc.stdout.fileno()
        chunks = []
        while n:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise WorkerDied("the zygote did not answer in time")
            chunk = os.read(fd, min(n, 1 << 20))
            if not chunk:
                raise WorkerDied(f"the zygote exited (code {self.proc.poll()})")
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def _read_frame(self, deadline: float) -> bytes:
        return self._read_exact(int.from_bytes(self._read_exact(4, deadline), "big"), deadline)

    def send(self, payload: bytes) -> None:
        """Queue one request (already framed by ``encode_request``); the zygote answers requests in order."""
        if self.proc is None or self.proc.poll() is not None:
            raise WorkerDied("the zygote is not running")
        try:
            self.proc.stdin.write(payload)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError) as exc:
            raise WorkerDied(f"could not write to the zygote: {exc}") from None

    def recv(self, timeout_s: float) -> tuple[dict, bytes, bytes, bytes]:
        """The reply to the oldest request not yet answered."""
        if self.proc is None:
            raise WorkerDied("the zygote is not running")
        deadline = time.monotonic() + timeout_s
        header = json.loads(self._read_frame(deadline))
        return header, self._read_frame(deadline), self._read_frame(deadline), self._read_frame(deadline)

    def request(self, control: dict, job: bytes, stdin: bytes, timeout_s: float) -> tuple[dict, bytes, bytes, bytes]:
        self.send(encode_request(control, job, stdin))
        return self.recv(timeout_s)


def encode_request(control: dict, job: bytes, stdin: bytes) -> bytes:
    """A request as the zygote reads it: limits (JSON numbers), then the job and the stdin as raw frames
    that the zygote splices into memfds for the child without reading them."""
    return b"".join(len(p).to_bytes(4, "big") + p for p in (json.dumps(control).encode(), job, stdin))
