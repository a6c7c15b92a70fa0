"""Isolation between samples, as a property and as the attacks that broke it (issue #11).

The property: 200 samples of one problem on the same two workers, each with a random secret that it
puts everywhere it can (its source, stdout, stderr, its return value, files, extended attributes and
timestamps of its directory) and each searching everywhere it can for the others' secrets (its frames,
the objects of its heap, its whole readable memory, the filesystem, directory metadata). No sample may
find another's. Every attack below passed (or broke a worker) on the code before this change.
"""

import random
import textwrap

import pytest

from codeprm.problems import Problem, TestCase
from codeprm.sandbox import Sandbox
from codeprm.sandbox.tests.conftest import FAST, HONEST, WRONG, inc_problem

SCAN = textwrap.dedent(r'''
    import ctypes, gc, os, re, sys
    MINE = "S3CR3T" + "%(secret)s"
    PATTERN = re.compile(rb"S3CR3T[0-9a-f]{16}")
    MINE_TIME = %(stamp)d

    def memory():
        found = set()
        try:
            maps = open("/proc/self/maps").read().splitlines()
        except OSError:
            maps = []
        for line in maps:
            parts = line.split()
            if "r" not in parts[1] or (len(parts) > 5 and parts[5].startswith("[v")):
                continue
            start, end = (int(x, 16) for x in parts[0].split("-"))
            if end - start > 256 << 20:
                continue
            try:
                data = ctypes.string_at(start, end - start)
            except Exception:
                continue
            found.update(m.decode() for m in PATTERN.findall(data))
        return found

    def objects():
        found = set()
        for obj in gc.get_objects():
            try:
                found.update(m.decode() for m in PATTERN.findall(repr(obj)[:100000].encode()))
            except Exception:
                pass
        frame = sys._getframe()
        while frame is not None:
            for value in list(frame.f_locals.values()):
                try:
                    found.update(m.decode() for m in PATTERN.findall(repr(value)[:1000000].encode()))
                except Exception:
                    pass
            frame = frame.f_back
        return found

    def filesystem():
        found, times = set(), set()
        here = os.getcwd()
        for top in {"/tmp", os.path.dirname(here), here}:
            for root, dirs, files in os.walk(top):
                for name in dirs + files + [""]:
                    path = os.path.join(root, name)
                    try:
                        st = os.lstat(path)
                        times.update({int(st.st_mtime), int(st.st_atime)})
                        for attr in os.listxattr(path):
                            found.update(m.decode() for m in PATTERN.findall(os.getxattr(path, attr)))
                        if name in files:
                            found.update(m.decode() for m in PATTERN.findall(open(path, "rb").read(1 << 20)))
                    except OSError:
                        pass
        return found, {t for t in times if t > 4_000_000_000 and t != MINE_TIME}

    def leave_traces():
        print(MINE)
        print(MINE, file=sys.stderr)
        for path in ("trace.txt", "/tmp/trace.txt", os.path.join(os.path.dirname(os.getcwd()), "trace.txt")):
            try:
                with open(path, "w") as fh:
                    fh.write(MINE)
            except OSError:
                pass
        try:
            os.setxattr(".", "user.trace", MINE.encode())
        except OSError:
            pass
        for path in (".", "trace.txt"):
            try:
                os.utime(path, (MINE_TIME, MINE_TIME))
            except OSError:
                pass

    def f(step):
        if step == 1:
            return MINE  # a wrong answer: the secret travels back through the reply
        leave_traces()
        seen = memory() | objects()
        files, times = filesystem()
        foreign = sorted((seen | files) - {MINE})
        return "clean" if not foreign and not times else f"LEAK {foreign[:3]} {sorted(times)[:3]}"
''')


def test_no_sample_sees_another_samples_data():
    rng = random.Random(11)
    problem = Problem(id="secrets", prompt="", entry_point="f", time_limit_s=2.0, memory_limit_mb=256,
                      tests=[TestCase.call(args=[0], expected="clean"), TestCase.call(args=[1], expected="clean")])
    programs = [SCAN % {"secret": f"{rng.getrandbits(64):016x}", "stamp": 4_000_000_000 + rng.getrandbits(30)}
                for _ in range(200)]
    with Sandbox(workers=2, tmp_inodes=4096) as sandbox:
        results = sandbox.run_many([(p, problem) for p in programs])
    leaks = [r.tests[0].detail for r in results if r.tests[0].status != "pass"]
    assert not leaks, leaks[:3]
    assert all(r.tests[1].status == "fail" for r in results)  # each secret did travel through the reply


def secret_problem(secret: int, n_tests: int = 3) -> Problem:
    return Problem(id="secret", prompt="", entry_point="f", time_limit_s=1.0,
                   tests=[TestCase.call(args=[i], expected=secret) for i in range(n_tests)])


FRAME_WALK_CHEAT = textwrap.dedent('''
    import json, sys
    def f(i):
        frame = sys._getframe()
        while frame is not None:
            for value in list(frame.f_locals.values()):
                for blob in (value if isinstance(value, tuple) else (value,)):
                    if isinstance(blob, (bytes, bytearray)) and b'"ok"' in blob:
                        pos = 0
                        while pos + 4 <= len(blob):
                            n = int.from_bytes(blob[pos:pos + 4], "big")
                            try:
                                rec = json.loads(blob[pos + 4:pos + 4 + n])
                                if rec.get("i") == i and rec["ok"][0] == "i":
                                    return int(rec["ok"][1], 16)
                            except Exception:
                                pass
                            pos += 4 + n
            frame = frame.f_back
        return None
''')


def test_attack_previous_reply_in_zygote_frames():
    secret = random.Random(1).getrandbits(60)
    with Sandbox(workers=1) as sandbox:
        results = [sandbox.run(f"def f(i):\n    return {secret}\n", secret_problem(secret)),
                   sandbox.run(FRAME_WALK_CHEAT, secret_problem(secret))]
    assert results[0].passed
    assert [t.status for t in results[1].tests] == ["fail"] * 3


HEAP_CHEAT = textwrap.dedent('''
    import ctypes, re
    def f(x):
        for line in open("/proc/self/maps").read().splitlines():
            parts = line.split()
            if "r" not in parts[1] or (len(parts) > 5 and parts[5].startswith("[v")):
                continue
            start, end = (int(v, 16) for v in parts[0].split("-"))
            try:
                data = ctypes.string_at(start, end - start)
            except Exception:
                continue
            hit = re.search(rb"ANSWER=([0-9]+)=", data)
            if hit:
                return int(hit.group(1))
        return None
''')


def test_attack_earlier_samples_in_zygote_heap():
    problem = Problem(id="heap", prompt="", entry_point="f", tests=[TestCase.call(args=[1], expected=7_777_123)])
    honest = "def f(x):\n    print('ANSWER=7777123=')\n    return 7777123\n"
    with Sandbox(workers=1) as sandbox:
        assert sandbox.run(honest, problem).passed
        cheat = sandbox.run(HEAP_CHEAT, problem)
    assert [t.status for t in cheat.tests] == ["fail"]


def test_attack_workdir_metadata_carries_state():
    problem = Problem(id="meta", prompt="", entry_point="f", tests=[TestCase.call(args=[], expected=4_123_456_789)])
    writer = "import os\ndef f():\n    os.utime('.', (4123456789, 4123456789))\n    os.setxattr('.', 'user.k', b'4123456789')\n    return 0\n"
    reader = ("import os\ndef f():\n    t = int(os.stat('.').st_mtime)\n    if t > 4000000000:\n        return t\n"
              "    try:\n        return int(os.getxattr('.', 'user.k'))\n    except OSError:\n        return -1\n")
    with Sandbox(workers=1) as sandbox:
        sandbox.run(writer, problem)
        assert not sandbox.run(reader, problem).passed


def test_attack_cpu_in_a_grandchild_is_counted():
    # the work happens in a forked grandchild while the child sleeps in waitpid: CPU over every process counts
    program = textwrap.dedent('''
        import os
        def f(x):
            pid = os.fork()
            if pid == 0:
                n = 0
                for i in range(10 ** 9):
                    n += i
                os._exit(0)
            os.waitpid(pid, 0)
            return x + 1
    ''')
    with Sandbox(workers=1, wall_time_factor=20.0, wall_time_extra_s=0.5) as sandbox:
        result = sandbox.run(program, inc_problem(time_limit_s=0.3))
    assert result.tests[0].status == "timeout" and "CPU" in result.tests[0].detail


def test_attack_empty_frames_do_not_move_the_deadline():
    # Test 0 burns 0.5 s of CPU (limit 0.3 s). Each time 0.25 s are spent it writes an empty frame, which
    # restarted the old zygote's clocks for the test, waits for the zygote to notice, then truncates the
    # result stream back so that the records the host reads look clean.
    program = textwrap.dedent('''
        import os, time
        def f(x):
            if x == 1:
                try:
                    start = os.lseek(3, 0, os.SEEK_CUR)
                except OSError:
                    start = None  # a pipe: the stream cannot be rewound
                for _ in range(2):
                    end = time.process_time() + 0.25
                    while time.process_time() < end:
                        pass
                    os.write(3, b"\\0\\0\\0\\0")
                    time.sleep(0.3)
                    if start is not None:
                        os.ftruncate(3, start)
                        os.lseek(3, start, os.SEEK_SET)
            return x + 1
    ''')
    with Sandbox(workers=1, wall_time_factor=20.0, wall_time_extra_s=0.5) as sandbox:
        result = sandbox.run(program, inc_problem(time_limit_s=0.3))
    assert result.tests[0].status != "pass" and not result.passed


def test_attack_record_flood_is_rejected_unparsed():
    from codeprm.sandbox import grade

    flood = (2).to_bytes(4, "big") + b"{}"
    with pytest.raises(grade.Malformed, match="more records|more values"):
        grade.decode_records(flood * 3_000_000, 4)
    program = "import os\ndef f(x):\n    os.write(3, (b'\\x00\\x00\\x00\\x02{}') * 200_000)\n    return x + 1\n"
    with Sandbox(workers=1) as sandbox:
        result = sandbox.run(program, inc_problem())
    assert not result.passed and "pass" not in [t.status for t in result.tests]


def test_attack_deep_tree_does_not_break_the_worker():
    program = textwrap.dedent('''
        import os
        def f(x):
            if x == 1:
                for _ in range(1500):
                    os.mkdir("d")
                    os.chdir("d")
            return x + 2
    ''')
    with Sandbox(workers=1, tmp_inodes=4096) as sandbox:
        bad = sandbox.run(program, inc_problem(time_limit_s=2.0))
        after = [sandbox.run(HONEST, inc_problem()) for _ in range(3)]
    assert [t.status for t in bad.tests] == ["fail"] * 3
    assert all(r.passed and not r.infra_error for r in after)


def test_remove_tree_without_recursion(tmp_path):
    import os
    import tempfile
    from pathlib import Path

    from codeprm.sandbox.jail.cleanup import remove_tree

    # on a tmpfs when there is one (as in the sandbox): rmdir on a journaling disk costs milliseconds
    base = Path(tempfile.mkdtemp(dir="/dev/shm")) if os.access("/dev/shm", os.W_OK) else tmp_path
    path = base / "top"
    path.mkdir()
    deep = str(path)

    fd = os.open(deep, os.O_RDONLY)
    for _ in range(1100):  # deeper than Python's recursion limit, and a path longer than PATH_MAX
        os.mkdir("dddd", dir_fd=fd)
        nxt = os.open("dddd", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = nxt
    os.close(fd)
    (path / "f").write_text("x")
    assert not remove_tree(str(path), max_entries=100) and path.exists()  # over budget: says so
    assert remove_tree(str(path)) and not path.exists()
    base.rmdir() if base != tmp_path else None


def test_int_where_float_expected_never_raises_out_of_run_many():
    problem = Problem(id="fl", prompt="", entry_point="f", tests=[TestCase.call(args=[], expected=1.5)], float_tolerance=1e-6)
    strict = Problem(id="fl", prompt="", entry_point="f", tests=[TestCase.call(args=[], expected=1.5)])
    with Sandbox(**FAST) as sandbox:
        results = sandbox.run_many([("def f():\n    return 10 ** 400\n", problem), ("def f():\n    return 10 ** 400\n", strict),
                                    ("def f():\n    return 1.5\n", problem)])
    assert [r.status for r in results] == ["fail", "fail", "pass"]


@pytest.mark.parametrize("program, expected", [
    ("def f():\n    return 1000000.9\n", 1_000_000),
    ("def f():\n    return 1000000.0\n", 1_000_000),
    ("def f():\n    return True\n", 1),
    ("def f():\n    return 1\n", True),
])
def test_strict_values_by_default(sb, program, expected):
    problem = Problem(id="strict", prompt="", entry_point="f", tests=[TestCase.call(args=[], expected=expected)])
    assert sb.run(program, problem).tests[0].status == "fail"


@pytest.mark.parametrize("printed", ["1_000", "\uff11\uff10\uff10\uff10", "1000.0"])
def test_strict_stdout_tokens(sb, printed):
    problem = Problem(id="io", prompt="", entry_point=None, tests=[TestCase.stdio(stdin="", stdout="1000\n")])
    assert sb.run(f"print({printed!r})\n", problem).tests[0].status == "fail"
    assert sb.run("print(1000)\n", problem).passed


def test_spoofed_syntax_error_is_a_runtime_error(sb):
    program = textwrap.dedent('''
        class Fake(Exception):
            @property
            def __class__(self):
                return SyntaxError
        def f(x):
            raise Fake("looks like a syntax error")
    ''')
    result = sb.run(program, inc_problem())
    assert {t.status for t in result.tests} == {"runtime_error"}
    top = sb.run("raise type('SyntaxError', (Exception,), {})('x')\ndef f(x):\n    return x + 1\n", inc_problem())
    assert {t.status for t in top.tests} == {"runtime_error"}
    assert {t.status for t in sb.run("def f(x) return\n", inc_problem()).tests} == {"syntax_error"}


def test_coverage_is_marked_untrusted(sb):
    program = textwrap.dedent('''
        import gc
        def f(x):
            for obj in gc.get_objects():
                if type(obj) is set and len(obj) < 50 and all(type(v) is int for v in obj) and 2 in obj:
                    obj.update(range(1, 12))  # claim lines that never ran
            return x + 1
        # 8
        # 9
        # 10
        # 11
    ''')
    result = sb.run(program, inc_problem(), coverage=True)
    assert result.coverage_trusted is False


class _RetiringWorker:
    """A stand-in zygote whose first reply says it must retire (its cleanup failed)."""

    def __init__(self):
        self.restarts, self.sent, self.queue = 0, 0, []

    def send(self, payload):
        self.sent += 1
        self.queue.append(self.sent)

    def recv(self, timeout_s):
        n = self.queue.pop(0)
        header = {"exit_code": 0, "compiled": True, "record_cpu_s": [], "record_wall_s": [], "cpu_time_s": 0.0, "wall_time_s": 0.0}
        if n == 1:
            header["retire"] = "could not remove the sample's directory"
        records = b"".join(len(d).to_bytes(4, "big") + d for d in (b'{"loaded": 1}', b'{"i": 0, "ok": ["i", "0x2"]}'))
        return header, records, b"", b""

    def restart(self):
        self.restarts += 1
        self.queue.clear()  # whatever the old zygote still held is gone


def test_retiring_zygote_is_replaced_without_infra_errors():
    from codeprm.sandbox.config import SandboxConfig
    from codeprm.sandbox.judge import SampleRun, encode_call_tests
    from codeprm.sandbox.scheduler import drive

    problem = Problem(id="one", prompt="", entry_point="f", tests=[TestCase.call(args=[1], expected=2)])
    config, tests = SandboxConfig(workers=1), encode_call_tests(problem)
    todo, results, worker = iter(range(5)), {}, _RetiringWorker()

    def next_run():
        i = next(todo, None)
        return None if i is None else (i, SampleRun(config, HONEST, problem, False, False, tests))

    drive(worker, next_run, results.__setitem__)
    assert worker.restarts == 1
    assert sorted(results) == list(range(5)) and all(r.passed and not r.infra_error for r in results.values())


BURN = "import time\ndef f(x):\n    end = time.process_time() + 0.15\n    while time.process_time() < end:\n        pass\n    return x + 1\n"
LOOP_FIRST = "def f(x):\n    while x == 1:\n        pass\n    return x + 1\n"


def test_sample_budget_and_stop_at_first_failure():
    with Sandbox(workers=1, sample_cpu_budget_s=0.25) as sandbox:
        budget = sandbox.run(BURN, inc_problem(time_limit_s=0.3))
    # each test fits its own limit, but the sample's budget runs out in the second
    assert [t.status for t in budget.tests[:2]] == ["pass", "timeout"] and budget.tests[2].status == "timeout"
    with Sandbox(workers=1) as sandbox:
        stopped = sandbox.run(LOOP_FIRST, inc_problem(time_limit_s=0.2), stop_at_first_failure=True)
        full = sandbox.run(LOOP_FIRST, inc_problem(time_limit_s=0.2))
    assert [t.status for t in stopped.tests] == ["timeout", "skipped", "skipped"] and stopped.status == "timeout"
    assert [t.status for t in full.tests] == ["timeout", "pass", "pass"]
