"""Red-team round 3 (issue 21): each finding that was fixed, as an attack or an honest program."""

import json
import time

import pytest

from codeprm.problems import Problem, TestCase
from codeprm.sandbox import Sandbox, compare, grade, hostassert
from codeprm.sandbox.jail import wire

from .conftest import FAST

ASSERT_ONLY = Problem(id="a", prompt="", entry_point="f", tests=[
    TestCase.assert_("assert abs(candidate(1.33) - 0.33) < 1e-6"),
    TestCase.assert_("assert tuple(candidate([1, 2])) == tuple([1, 2])"),
    TestCase.assert_("assert candidate('x') is True"),
    TestCase.assert_("assert not candidate(0)"),
])
HONEST_ASSERTS = (
    "def f(x):\n"
    "    if x == 1.33: return 0.33\n"
    "    if x == [1, 2]: return [1, 2]\n"
    "    return x == 'x'\n")

# an object that agrees with everything: defeated any assert run next to the program
RIGGED = (
    "class Yes:\n"
    "    def __eq__(self, o): return True\n"
    "    def __ne__(self, o): return False\n"
    "    def __lt__(self, o): return True\n"
    "    def __sub__(self, o): return self\n"
    "    def __abs__(self): return self\n"
    "    def __bool__(self): return True\n"
    "    def __iter__(self): return iter([1, 2])\n"
    "def f(x):\n"
    "    return Yes()\n")


def test_asserts_are_split_into_calls_and_a_host_side_rest():
    for code in ("assert abs(candidate(1.33) - 0.33) < 1e-6", "assert candidate([1, 2], 5) is False",
                 "assert not candidate('<')", "assert tuple(candidate([1])) == tuple([1])",
                 "assert candidate(1) == candidate(1)", "assert f(1) == 2"):
        assert hostassert.split(code, "f") is not None, code
    for code in ("assert candidate(x) == 1", "assert candidate(helper(2)) == 1", "assert candidate(candidate(1))",
                 "for x in range(3):\n    assert candidate(x) == x", "assert candidate(1).real == 1",
                 "assert [0] * candidate(1) == []", "assert candidate(1) ** 9 == 1", "assert 1 == 1",
                 "assert '%09999999d' % candidate(1)", "assert [y for y in candidate(1)]",
                 "assert candidate(1) // candidate(2) == 1", "assert _codeprm_v0 == candidate(1)"):
        assert hostassert.split(code, "f") is None, code


def test_the_host_side_rest_stays_cheap_on_hostile_values():
    p = (1 << 61) - 1
    for code, value in (("assert str(candidate(1)) == '5'", 1 << 3_000_000),
                        ("assert set(candidate(1)) == {1}", [k * p for k in range(1, 50_000)]),
                        ("assert round(candidate(1), candidate(2)) == 1", None)):
        piece = hostassert.split(code, "f")
        values = (value,) if len(piece.calls) == 1 else (10**40, -10**7)
        start = time.process_time()
        ok, detail = hostassert.judge(piece, values)
        assert not ok and "raised" in detail and time.process_time() - start < 0.5, (code, detail)


def test_asserts_judged_on_the_host_are_trusted(sb):
    result = sb.run(HONEST_ASSERTS, ASSERT_ONLY)
    assert result.passed and result.pass_rate == 1.0 and result.status == "pass"
    assert all(t.trusted for t in result.tests)
    wrong = sb.run("def f(x):\n    return 0.5\n", ASSERT_ONLY)
    assert [t.status for t in wrong.tests] == ["fail", "runtime_error", "fail", "fail"] or not wrong.passed
    assert wrong.tests[0].status == "fail" and wrong.tests[0].trusted


def test_an_always_equal_object_passes_no_assert(sb):
    result = sb.run(RIGGED, ASSERT_ONLY)
    assert not result.passed and not result.passed_counting_untrusted
    assert all(t.status != "pass" for t in result.tests)


def test_forged_fd3_assert_frames_do_not_pass(sb):
    # the round-2 attack: write the assert records yourself, then leave before the harness can
    forge = ("import json, os\n"
             "def frame(r):\n    d = json.dumps(r).encode()\n    os.write(3, len(d).to_bytes(4, 'big') + d)\n"
             "frame({'loaded': 1})\n"
             "for i in range(4):\n    frame({'i': i, 'assert': 1})\n"
             "os._exit(0)\n")
    result = sb.run(forge, ASSERT_ONLY)
    assert not result.passed and result.pass_rate == 0.0
    # an assert that cannot be split still runs in the child: forgeable, so never counted
    loose = Problem(id="l", prompt="", entry_point="f", tests=[TestCase.assert_("for x in range(2):\n    assert candidate(x) == x * 7")])
    forged = sb.run(forge.replace("range(4)", "range(1)"), loose)
    assert forged.tests[0].status == "pass" and not forged.tests[0].trusted
    assert not forged.passed and forged.status == "unverified" and forged.passed_counting_untrusted


def test_set_of_equal_hash_ints_is_refused_in_linear_time(sb):
    p = (1 << 61) - 1  # hash(k * p) == 0 for every k
    tree = ["S", [wire.to_tree(k * p) for k in range(1, 40_000)]]
    start = time.process_time()
    with pytest.raises(ValueError, match="equal hashes"):
        wire.from_tree(tree)
    assert time.process_time() - start < 1.0
    problem = Problem(id="h", prompt="", entry_point="f", tests=[TestCase.call(args=[], expected={1})])
    start = time.process_time()  # this process's CPU: the host's decode
    forge = ("import json, os\n"  # the record written by hand: building the set in the child would be quadratic
             "def frame(r):\n    d = json.dumps(r).encode()\n    os.write(3, len(d).to_bytes(4, 'big') + d)\n"
             "frame({'loaded': 1})\n"
             f"frame({{'i': 0, 'ok': ['S', [['i', hex(k * {p})] for k in range(1, 25000)]]}})\n"
             "os._exit(0)\n")
    result = sb.run(forge, problem)
    assert result.tests[0].status == "runtime_error" and time.process_time() - start < 1.0


def test_empty_list_flood_is_refused_before_it_is_built():
    payload = b'{"i":0,"ok":["l",[' + b",".join([b"[]"] * 2_000_000) + b"]]}"
    blob = len(payload).to_bytes(4, "big") + payload
    with pytest.raises(grade.Malformed, match="more values"):
        grade.decode_records(blob, 2)
    ok = json.dumps({"i": 0, "ok": wire.to_tree(list(range(1000)))}).encode()
    assert grade.decode_records(len(ok).to_bytes(4, "big") + ok, 2)[0]["i"] == 0


def test_dict_keys_and_set_members_match_by_type():
    assert not compare.values_equal({True: "a"}, {1: "a"})
    assert not compare.values_equal({1.0}, {1})
    assert not compare.values_equal({(1, True)}, {(1, 1)})
    assert compare.values_equal({1: "a", (2, "b"): [3]}, {(2, "b"): [3], 1: "a"})
    assert compare.values_equal(frozenset({1, 2}), frozenset({2, 1}))


STDIO = Problem(id="io", prompt="", tests=[TestCase.stdio(stdin="3\n", stdout="6\n")])


@pytest.mark.parametrize("program", [
    "print(int(input()) * 2)\nexit()\n",
    "print(int(input()) * 2)\nquit()\n",
    "import sys\nprint(int(input()) * 2)\nsys.exit()\n",
    "import sys\nprint(int(input()) * 2)\nsys.exit(0)\n",
    "import os, sys\nprint(int(input()) * 2)\nsys.stdout.flush()\nos._exit(0)\n",
    "import threading, time\ndef main():\n    time.sleep(0.2)\n    print(int(input()) * 2)\nthreading.Thread(target=main).start()\n",
    "import atexit\nn = int(input())\natexit.register(lambda: print(n * 2))\n",
    "def main():\n    print(int(input()) * 2)\nif __name__ == '__main__':\n    main()\n",
    "import sys\nprint(int(sys.stdin.read()) * 2)\n",
    "import sys\nfor line in sys.stdin:\n    print(int(line) * 2)\n",
], ids=["exit", "quit", "sys.exit", "sys.exit0", "os._exit", "thread", "atexit", "main-guard", "read-all", "lines"])
def test_honest_stdio_idioms_pass(sb, program):
    result = sb.run(program, STDIO)
    assert result.passed, result.tests[0]


def test_os_exit_nonzero_and_missing_output_still_fail(sb):
    assert sb.run("import os\nprint(6)\nos._exit(1)\n", STDIO).tests[0].status == "runtime_error"
    assert sb.run("import os\nos._exit(0)\n", STDIO).tests[0].status == "fail"


def test_a_class_named_memoryerror_is_not_a_memory_verdict(sb):
    problem = Problem(id="m", prompt="", entry_point="f", tests=[TestCase.call(args=[], expected=1)])
    fake = sb.run("class MemoryError(Exception):\n    pass\ndef f():\n    raise MemoryError('x')\n", problem)
    assert fake.tests[0].status == "runtime_error"
    real = sb.run("def f():\n    raise MemoryError('x')\n", problem)
    assert real.tests[0].status == "memory"


def test_lone_surrogate_in_output_does_not_break_serialisation(sb):
    problem = Problem(id="s", prompt="", entry_point="f", tests=[TestCase.call(args=[], expected="a")])
    result = sb.run("def f():\n    return '\\ud800'\n", problem)
    assert result.tests[0].status == "fail"
    assert json.loads(result.model_dump_json())["tests"][0]["status"] == "fail"
    raised = sb.run("def f():\n    raise ValueError('\\ud800')\n", problem)
    assert raised.tests[0].status == "runtime_error"
    assert json.loads(raised.model_dump_json())["tests"][0]["status"] == "runtime_error"


def test_results_say_which_mode_judged_them_and_which_lines_are_trusted(sb):
    result = sb.run("def f(x):\n    return x +\n", ASSERT_ONLY)
    assert result.isolation == "full" and result.error_line == 2 and result.error_line_trusted
    claimed = sb.run("def f(x):\n    raise ValueError\n", ASSERT_ONLY)
    assert claimed.error_line == 2 and not claimed.error_line_trusted


def test_wall_slack_is_per_test_not_per_sample():
    from codeprm.sandbox.config import SandboxConfig
    from codeprm.sandbox.judge import SampleRun, encode_call_tests

    problem = Problem(id="w", prompt="", entry_point="f", time_limit_s=0.5,
                      tests=[TestCase.call(args=[i], expected=i) for i in range(9)])
    config = SandboxConfig(workers=1, wall_time_factor=2.0, wall_time_extra_s=1.0)
    run = SampleRun(config, "def f(x):\n    return x\n", problem, False, False, encode_call_tests(problem))
    assert run.wall_left == pytest.approx(2.0 * 0.5 * 10 + 1.0 * 10)


def test_memory_limit_rises_after_a_smaller_problem():
    def problem(mb):
        return Problem(id=f"m{mb}", prompt="", entry_point="f", memory_limit_mb=mb, time_limit_s=5,
                       tests=[TestCase.call(args=[], expected=1)])
    eat = "def f():\n    b = bytearray(200 << 20)\n    return 1\n"
    with Sandbox(**{**FAST, "workers": 1}) as one:
        if "cgroup" not in one.mechanisms:
            pytest.skip("needs the memory cgroup")
        assert one.run(eat, problem(64)).tests[0].status == "memory"
        assert one.run(eat, problem(600)).passed  # the limit went back up, memsw first


def _broken_plan(monkeypatch):
    from codeprm.sandbox import rootfs

    real = rootfs.plan

    def plan(*args):
        out = dict(real(*args))
        out["binds"] = out["binds"] + ["/nonexistent-codeprm-dir"]  # the root cannot be assembled
        return out

    monkeypatch.setattr(rootfs, "plan", plan)


def test_full_isolation_refuses_to_start_without_the_allow_list_root(monkeypatch):
    from codeprm.errors import CodeprmError

    _broken_plan(monkeypatch)
    with pytest.raises(CodeprmError, match=r"allow-list root.*isolation='weaker'"):
        Sandbox(workers=1)


def test_weaker_mode_is_chosen_by_name_and_recorded_in_every_result(monkeypatch):
    _broken_plan(monkeypatch)
    with Sandbox(workers=1, isolation="weaker") as weak:
        assert "WEAKER" in weak.mechanisms["filesystem"]
        result = weak.run(HONEST_ASSERTS, ASSERT_ONLY)
        assert result.passed and result.isolation == "weaker"


def test_allow_list_root_works_for_an_interpreter_in_a_venv_under_tmp(tmp_path):
    import subprocess
    import sys

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True)
    script = (
        "from codeprm.sandbox import Sandbox\n"
        "from codeprm.problems import Problem, TestCase\n"
        "p = Problem(id='v', prompt='', entry_point='f', tests=[TestCase.call(args=[], expected=True)])\n"
        "with Sandbox(workers=1) as sb:\n"
        "    assert 'WEAKER' not in sb.mechanisms['filesystem'], sb.mechanisms['filesystem']\n"
        "    r = sb.run(\"import os\\ndef f():\\n    return not os.path.exists('/srv') and not os.path.exists('/home')\\n\", p)\n"
        "    print(r.status, r.isolation)\n")
    import os

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([str(venv / "bin" / "python"), "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert out.stdout.split() == ["pass", "full"], out.stderr[-2000:]


def test_cpu_of_reaped_children_counts_without_cgroups():
    # six children of 0.4 s each, each reaped by the program before the next: 2.4 s under a 1 s limit
    burn = ("import os, time\n"
            "def f():\n"
            "    for _ in range(6):\n"
            "        pid = os.fork()\n"
            "        if pid == 0:\n"
            "            t = time.process_time()\n"
            "            while time.process_time() - t < 0.4:\n"
            "                pass\n"
            "            os._exit(0)\n"
            "        os.waitpid(pid, 0)\n"
            "    return 1\n")
    problem = Problem(id="c", prompt="", entry_point="f", time_limit_s=1.0, tests=[TestCase.call(args=[], expected=1)])
    with Sandbox(**{**FAST, "workers": 1, "cgroup": "off", "wall_time_factor": 20.0}) as plain:
        assert "cgroup" not in plain.mechanisms
        result = plain.run(burn, problem)
    assert result.tests[0].status == "timeout", result.tests[0]


def test_doctor_never_calls_a_weaker_mode_full():
    from codeprm.sandbox.config import SandboxConfig
    from codeprm.sandbox.doctor import format_report, run_doctor

    out = run_doctor(SandboxConfig(isolation="weaker"))
    assert out["problems"] and format_report(out).startswith("mode: weaker (NOT full)")


PROBES = (
    "import ctypes, errno, fcntl, os\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "def denied(call):\n"
    "    try:\n"
    "        out = call()\n"
    "    except OSError as exc:\n"
    "        return exc.errno == errno.EPERM\n"
    "    return out == -1 and ctypes.get_errno() == errno.EPERM\n"
    "def f():\n"
    "    fd = os.open(os.__file__, os.O_RDONLY)\n"
    "    buf = ctypes.create_string_buffer(16)\n"
    "    return {\n"
    "        'fadvise': denied(lambda: os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)),\n"
    "        'readahead': denied(lambda: libc.syscall(187, fd, 0, 4096)),\n"
    "        'mincore': denied(lambda: libc.syscall(27, 0, 4096, buf)),\n"
    "        'flock': denied(lambda: fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)),\n"
    "        'lockf': denied(lambda: fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)),\n"
    "        'sync': denied(lambda: libc.syscall(162)),\n"
    "        'syncfs': denied(lambda: libc.syscall(306, fd)),\n"
    "        'dumpable': denied(lambda: libc.prctl(4, 1, 0, 0, 0)),\n"
    "    }\n")


def test_channels_through_shared_host_files_are_denied(sb):
    names = ("fadvise", "readahead", "mincore", "flock", "lockf", "sync", "syncfs", "dumpable")
    problem = Problem(id="ch", prompt="", entry_point="f", tests=[TestCase.call(args=[], expected={n: True for n in names})])
    result = sb.run(PROBES, problem)
    assert result.passed, result.tests[0].detail


def test_inode_numbers_do_not_count_an_earlier_samples_files():
    # the earlier sample "publishes" a number by creating that many files; the later one reads its inode
    write = "import os\ndef f(n):\n    for i in range(n):\n        open(f'f{i}', 'w').close()\n    return 0\n"
    read = "import os\ndef f(n):\n    open('x', 'w').close()\n    return os.stat('x').st_ino + os.stat('.').st_ino\n"
    problem = Problem(id="ino", prompt="", entry_point="f", tests=[TestCase.call(args=[0], expected=0)])
    seen = []
    with Sandbox(**{**FAST, "workers": 1}) as one:
        for secret in (3, 41, 7):
            one.run(write.replace("range(n)", f"range({secret})"), problem)
            seen.append(one.run(read, problem).tests[0].detail)
    assert len(set(seen)) == 1, seen


def test_stale_cgroup_sweep_spares_a_live_sandbox_in_another_pid_namespace(monkeypatch):
    import os
    import subprocess

    from codeprm.sandbox import worker

    bases = {c: worker._own_cgroup(c) for c in ("pids", "memory")}
    if any(b is None or not b.is_dir() or not os.access(b, os.W_OK) for b in bases.values()):
        pytest.skip("needs writable cgroup v1 pids and memory hierarchies")
    name = "codeprm-999999999-0-1"  # a host PID that cannot exist here: as seen from another PID namespace
    dirs = {c: b / name for c, b in bases.items()}
    for d in dirs.values():
        d.mkdir()
    zygote = subprocess.Popen(["sleep", "30"])  # the other sandbox's zygote, inside its pids cgroup
    try:
        (dirs["pids"] / "cgroup.procs").write_text(str(zygote.pid))
        monkeypatch.setattr(worker, "_swept_stale", False)
        worker._remove_stale_cgroups()
        assert dirs["memory"].is_dir() and dirs["pids"].is_dir()
    finally:
        zygote.kill()
        zygote.wait()
    for _ in range(100):  # the killed task leaves the cgroup asynchronously
        try:
            dirs["pids"].rmdir()
            break
        except OSError:
            time.sleep(0.02)
    monkeypatch.setattr(worker, "_swept_stale", False)
    worker._remove_stale_cgroups()  # now really stale: both go
    assert not dirs["memory"].exists() and not dirs["pids"].exists()


def test_stop_at_first_failure_is_no_oracle_of_expected_outputs(sb):
    # a guesser: if the second test runs only when the first guess was right, being run tells it so
    problem = Problem(id="o", prompt="", tests=[TestCase.stdio(stdin="1\n", stdout="secret-a\n"),
                                                  TestCase.stdio(stdin="2\n", stdout="secret-b\n")])
    wrong = sb.run("print('guess')\n", problem, stop_at_first_failure=True)
    assert [t.status for t in wrong.tests] == ["fail", "fail"]  # the second ran whatever the first verdict
    crash = sb.run("raise SystemExit(3)\n", problem, stop_at_first_failure=True)
    assert [t.status for t in crash.tests] == ["runtime_error", "skipped"]  # a crash the program saw still stops
