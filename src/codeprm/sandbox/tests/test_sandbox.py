"""The sandbox's API and verdicts on honest programs (the attacks live in test_attacks.py)."""

import asyncio
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codeprm.errors import CodeprmError
from codeprm.problems import Problem, TestCase
from codeprm.sandbox import Sandbox, compare
from codeprm.sandbox.jail import wire
from codeprm.sandbox.tests.conftest import HONEST, WRONG, inc_problem
from codeprm.sandbox.worker import WorkerDied


def test_issue_example_api(sb):
    problem = Problem(id="inc", prompt="", entry_point="f",
                      tests=[TestCase.call(args=[1], expected=2), TestCase.call(args=[-1], expected=0)])
    result = sb.run("def f(x):\n    return x + 1\n", problem)
    assert result.passed and result.pass_rate == 1.0
    assert [t.status for t in result.tests] == ["pass", "pass"]
    assert all(t.trusted for t in result.tests)


def test_wrong_answer_fails_with_detail(sb):
    result = sb.run(WRONG, inc_problem())
    assert not result.passed and [t.status for t in result.tests] == ["fail"] * 3
    assert "expected 2, got 3" in result.tests[0].detail


def test_partial_pass_rate(sb):
    result = sb.run("def f(x):\n    return 2 if x == 1 else 0\n", inc_problem())
    assert [t.status for t in result.tests] == ["pass", "pass", "fail"]
    assert result.pass_rate == pytest.approx(2 / 3)


def test_stdio_problem(sb):
    problem = Problem(id="io", prompt="", entry_point=None,
                      tests=[TestCase.stdio(stdin="3\n", stdout="4\n"), TestCase.stdio(stdin="9\n", stdout="10")])
    assert sb.run("print(int(input()) + 1)\n", problem).passed
    bad = sb.run("print(int(input()) + 2)\n", problem)
    assert [t.status for t in bad.tests] == ["fail", "fail"]
    # sys.exit(0) after printing is a normal end for a stdin/stdout program; the output still decides
    assert sb.run("import sys\nprint(int(sys.stdin.read()) + 1)\nsys.exit(0)\n", problem).passed
    crash = sb.run("print(int(input()) + 1)\nraise ValueError('late')\n", problem)
    assert [t.status for t in crash.tests] == ["runtime_error"] * 2 and crash.error_line == 2


def test_stdout_comparison_rules():
    assert compare.stdout_matches("1 2\r\n3  \n\n\n", "1 2\n3")
    assert compare.stdout_matches("1   2\n", "1 2\n")
    assert not compare.stdout_matches("1 2\n", "1\n2\n")
    assert not compare.stdout_matches("", "0\n")
    # strict by default: numbers are ASCII tokens compared as text
    assert not compare.stdout_matches("0.3333333\n", "0.33333333333\n")
    assert not compare.stdout_matches("1_000\n", "1000\n") and not compare.stdout_matches("\uff11\uff10\n", "10\n")
    assert not compare.stdout_matches("1\u30002\n", "1 2\n")  # an ideographic space is not a separator
    # opt-in tolerance: ASCII decimal tokens within it
    assert compare.stdout_matches("0.3333333\n", "0.33333333333\n", 1e-6)
    assert not compare.stdout_matches("0.34\n", "0.33\n", 1e-6)
    assert not compare.stdout_matches("nan\n", "nan1\n", 1e-6)
    assert not compare.stdout_matches("1_000\n", "1000\n", 1e-6) and not compare.stdout_matches("\uff11\n", "1\n", 1e-6)


def test_value_comparison_rules():
    eq = compare.values_equal
    assert eq(2, 2) and eq(0.5, 0.5) and eq(float("nan"), float("nan"))
    assert not eq(0.1 + 0.2, 0.3) and not eq(2.0, 2) and not eq(1000000.9, 1000000)
    assert not eq(True, 1) and not eq(1, True) and not eq(1.0, True)
    assert not eq((1, 2), [1, 2]) and not eq("1", 1) and not eq(None, 0)
    assert eq({"a": [1.0]}, {"a": [1.0]}) and not eq({"a": 1}, {"b": 1})
    assert eq({1, 2}, {2, 1}) and not eq({1}, frozenset({1}))
    # opt-in tolerance: ints and floats by value, never bools
    assert eq(0.1 + 0.2, 0.3, 1e-6) and eq(2.0, 2, 0.0) and eq({"a": [1.0000000001]}, {"a": [1.0]}, 1e-6)
    assert not eq(1000000.9, 1000000, 1e-9) and not eq(True, 1.0, 1e-6)
    assert not eq(10 ** 400, 1.5, 1e-6) and not eq(1.5, -(10 ** 400), 1e-6)  # no OverflowError


def test_float_tolerance_end_to_end(sb):
    problem = Problem(id="fl", prompt="", entry_point="f", tests=[TestCase.call(args=[], expected=0.3)])
    assert not sb.run("def f():\n    return 0.1 + 0.2\n", problem).passed  # exact by default
    assert sb.run("def f():\n    return 0.3\n", problem).passed
    with Sandbox(workers=1, float_tolerance=1e-6) as tolerant:
        assert tolerant.run("def f():\n    return 0.1 + 0.2\n", problem).passed
        assert not tolerant.run("def f():\n    return 0.31\n", problem).passed


def test_assert_tests_run_setup_and_are_untrusted(sb):
    problem = Problem(id="as", prompt="def g(x):\n", entry_point="g", test_setup="def helper(v):\n    return v * 2\n",
                      tests=[TestCase.assert_("assert candidate(2) == helper(2)"), TestCase.call(args=[3], expected=6)])
    result = sb.run(problem.program("    return x * 2\n"), problem)
    assert not result.passed and result.status == "unverified" and result.pass_rate == 0.5  # not counted...
    assert result.passed_counting_untrusted  # ...unless the caller opts in by name
    assert [t.trusted for t in result.tests] == [False, True]
    bad = sb.run(problem.program("    return x\n"), problem)
    assert [t.status for t in bad.tests] == ["fail", "fail"]


def test_setup_runs_before_call_tests(sb):
    # LeetCode-style problems (APPS, LiveCodeBench): the setup exposes Solution().method as the entry point.
    problem = Problem(id="lc", prompt="", entry_point="twoSum", test_setup="def twoSum(*a):\n    return Solution().twoSum(*a)\n",
                      tests=[TestCase.call([[2, 7, 11], 9], expected=[0, 1]), TestCase.call([[1, 3], 4], expected=[0, 1])])
    program = "class Solution:\n    def twoSum(self, xs, t):\n        return [0, 1] if xs[0] + xs[1] == t else []\n"
    result = sb.run(program, problem)
    assert [t.status for t in result.tests] == ["pass", "pass"]
    assert not sb.run("class Solution:\n    def twoSum(self, xs, t):\n        return []\n", problem).passed


def test_syntax_error_and_error_line(sb):
    result = sb.run("def f(x):\n    return x +\n", inc_problem())
    assert [t.status for t in result.tests] == ["syntax_error"] * 3 and result.error_line == 2
    boom = sb.run("def f(x):\n    y = 1\n    return [][x]\n", inc_problem())
    assert {t.status for t in boom.tests} == {"runtime_error"} and boom.error_line == 3
    assert "IndexError" in boom.tests[0].detail


def test_coverage_lines(sb):
    program = "def f(x):\n    if x > 0:\n        return x + 1\n    return x + 1\n"
    result = sb.run(program, inc_problem(), coverage=True)
    assert result.passed and result.lines_executed == [1, 2, 3, 4]
    assert sb.run(program, inc_problem()).lines_executed is None
    one = Problem(id="c", prompt="", entry_point="f", tests=[TestCase.call(args=[5], expected=6)])
    assert sb.run(program, one, coverage=True).lines_executed == [1, 2, 3]


def test_timeout_in_one_test_keeps_later_tests(sb):
    program = "def f(x):\n    while x == 1:\n        pass\n    return x + 1\n"
    result = sb.run(program, inc_problem(time_limit_s=0.3))
    assert [t.status for t in result.tests] == ["timeout", "pass", "pass"]


def test_memory_limit(sb):
    result = sb.run("def f(x):\n    b = bytearray(400 << 20)\n    return x + 1\n", inc_problem(memory_limit_mb=64))
    assert {t.status for t in result.tests} == {"memory"}


def test_values_round_trip_through_child(sb):
    value = {"t": (1, 2.5, None), "s": {1, 2}, "b": b"\x00\xff", "big": 2 ** 200, "c": 1 + 2j, (1, "k"): [True, False],
             "nan": float("inf"), "f": frozenset({"x"})}
    problem = Problem(id="rt", prompt="", entry_point="f", tests=[TestCase.call(args=[value], expected=value)])
    assert sb.run("def f(v):\n    return v\n", problem).passed


@settings(max_examples=60, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text() | st.binary(),
                    lambda kids: st.lists(kids) | st.tuples(kids, kids) | st.dictionaries(st.text(), kids), max_leaves=20))
def test_wire_round_trip(value):
    back = wire.from_tree(wire.loads(wire.dumps(wire.to_tree(value))))
    assert type(back) is type(value) and compare.values_equal(back, value)


def test_wire_rejects_subclasses_and_depth():
    class S(str):
        pass

    for bad in (S("x"), [S("x")], {"k": object()}, True.__class__.__mro__):
        with pytest.raises(wire.Unencodable):
            wire.to_tree(bad)
    deep = []
    for _ in range(wire.MAX_DEPTH + 5):
        deep = [deep]
    with pytest.raises(wire.Unencodable):
        wire.to_tree(deep)
    for malformed in (["x"], ["b", 2], ["i", 5], ["l", "ab"], "s", ["d", [[1]]]):
        with pytest.raises(ValueError):
            wire.from_tree(malformed)


def test_run_many_keeps_order_and_arun(sb):
    problem = inc_problem()
    programs = [HONEST if i % 3 else WRONG for i in range(30)]
    results = sb.run_many([(p, problem) for p in programs])
    assert [r.passed for r in results] == [p == HONEST for p in programs]

    async def both():
        return await asyncio.gather(sb.arun(HONEST, problem), sb.arun(WRONG, problem))

    good, bad = asyncio.run(both())
    assert good.passed and not bad.passed


@pytest.mark.parametrize("program, problem, message", [
    (b"def f(): pass", inc_problem(), "must be text"),
    ("def f(x): return x", Problem(id="empty", prompt="", entry_point="f", tests=[]), "no tests"),
    ("x = 1", Problem(id="noentry", prompt="", tests=[TestCase.call(args=[1], expected=1)]), "needs an entry_point"),
])
def test_bad_input_is_a_clear_error(sb, program, problem, message):
    with pytest.raises(CodeprmError, match=message):
        sb.run(program, problem)


def test_limits_out_of_range_rejected(sb):
    problem = inc_problem()
    problem.time_limit_s = 10_000  # mutated after validation
    with pytest.raises(CodeprmError, match="time_limit_s"):
        sb.run(HONEST, problem)
    with pytest.raises(CodeprmError, match="wall_time_factor"):
        Sandbox(workers=1, wall_time_factor=0.1)
    with pytest.raises(CodeprmError, match="workers"):
        Sandbox(workers=0)


def test_unencodable_test_input_rejected(sb):
    problem = Problem(id="obj", prompt="", entry_point="f", tests=[TestCase.call(args=[object()], expected=1)])
    with pytest.raises(CodeprmError, match="not a builtin value"):
        sb.run(HONEST, problem)


def test_missing_mechanism_names_the_weaker_mode(monkeypatch):
    from codeprm.sandbox import seccomp_filter

    def unavailable():
        raise seccomp_filter.SeccompUnavailable("pyseccomp/libseccomp unavailable (simulated)")

    monkeypatch.setattr(seccomp_filter, "compile_bpf", unavailable)
    with pytest.raises(CodeprmError, match=r"seccomp.*rlimits-only"):
        Sandbox(workers=1)


def test_rlimits_only_mode_still_grades(monkeypatch):
    with Sandbox(workers=1, isolation="rlimits-only", cgroup="off", wall_time_extra_s=0.3) as sandbox:
        assert sandbox.run(HONEST, inc_problem()).passed
        assert not sandbox.run(WRONG, inc_problem()).passed
        assert [t.status for t in sandbox.run("def f(x):\n    while True: pass\n", inc_problem(0.2)).tests][0] == "timeout"


def test_dead_worker_is_replaced_and_sample_retried(sb):
    zygote_pids = {z.proc.pid for z in sb._workers}
    import os
    import threading

    def kill_soon():
        import time
        time.sleep(0.3)
        for pid in zygote_pids:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass

    killer = threading.Thread(target=kill_soon)
    killer.start()
    result = sb.run("import time\ndef f(x):\n    time.sleep(0.15)\n    return x + 1\n", inc_problem(time_limit_s=1.0))
    killer.join()
    assert result.passed  # the retry on a fresh zygote graded it
    assert sb.run(HONEST, inc_problem()).passed and sb.run(HONEST, inc_problem()).passed


def test_infra_error_after_two_failures_is_not_a_fail(sb, monkeypatch):
    from codeprm.sandbox.worker import Zygote

    def broken(self, timeout_s):
        raise WorkerDied("simulated")

    monkeypatch.setattr(Zygote, "recv", broken)  # every reply lost: the worker is restarted, the sample retried
    result = sb.run(HONEST, inc_problem())
    assert result.infra_error and result.status == "infra_error"
    assert all(t.status == "infra_error" for t in result.tests) and not any(t.status == "fail" for t in result.tests)
    monkeypatch.undo()
    assert sb.run(HONEST, inc_problem()).passed



def test_startup_says_what_is_enforced(caplog):
    import logging

    with caplog.at_level(logging.INFO, logger="codeprm.sandbox"):
        with Sandbox(workers=1) as sandbox:
            assert {"seccomp", "network", "filesystem", "uid", "rlimits"} <= set(sandbox.mechanisms)
        with Sandbox(workers=1, isolation="rlimits-only", cgroup="off"):
            pass
    lines = [r for r in caplog.records if r.name == "codeprm.sandbox" and "isolation=" in r.getMessage()]
    assert lines[0].levelno == logging.INFO and "seccomp" in lines[0].getMessage()
    assert lines[1].levelno == logging.WARNING and "WEAKER" in lines[1].getMessage()


def test_cpu_limit_is_per_test_even_with_a_generous_wall_clock():
    # wall budget 20 * 0.3 + 0.5 = 6.5 s per test, but each test may only use 0.3 CPU seconds
    with Sandbox(workers=1, wall_time_factor=20.0, wall_time_extra_s=0.5) as sandbox:
        burn = "def f(x):\n    if x == 1:\n        while True:\n            pass\n    return x + 1\n"
        start = __import__("time").monotonic()
        result = sandbox.run(burn, inc_problem(time_limit_s=0.3))
        assert [t.status for t in result.tests] == ["timeout", "pass", "pass"]
        assert "CPU" in result.tests[0].detail
        assert __import__("time").monotonic() - start < 4.0
        # work that fits in the CPU budget passes, however many tests came before it
        ok = "def f(x):\n    s = 0\n    for i in range(200000):\n        s += i\n    return x + 1\n"
        assert sandbox.run(ok, inc_problem(time_limit_s=0.3)).passed


def test_failing_callback_does_not_poison_the_workers(sb):
    problem = inc_problem()

    def boom(index, result):
        raise RuntimeError("callback failed")

    with pytest.raises(RuntimeError, match="callback failed"):
        sb.run_many([(HONEST if i % 2 else WRONG, problem) for i in range(12)], on_result=boom)
    # every worker still answers its own requests, not stale replies from the aborted batch
    results = sb.run_many([(HONEST if i % 2 else WRONG, problem) for i in range(12)])
    assert [r.passed for r in results] == [bool(i % 2) for i in range(12)]


@pytest.mark.parametrize("digit_limit", [4300, 0])
def test_huge_int_answer_is_a_plain_fail(sb, digit_limit):
    # Rendering a wrong huge int must cost bounded time and never raise, whatever Python's int digit
    # limit is (0 lifts it: str() of a huge int is then quadratic). Set here, restored after.
    before = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(digit_limit)
    try:
        result = sb.run("def f(x):\n    return 7 ** 300_000\n", inc_problem(time_limit_s=2.0))
        float_problem = Problem(id="fl", prompt="", entry_point="f", tests=[TestCase.call(args=[], expected=1.5)],
                                float_tolerance=1e-6)
        big_vs_float = sb.run("def f():\n    return 10 ** 400\n", float_problem)
    finally:
        sys.set_int_max_str_digits(before)
    assert [t.status for t in result.tests] == ["fail"] * 3
    assert "<int of 842207 bits>" in result.tests[0].detail and len(result.tests[0].detail) < 300
    assert [t.status for t in big_vs_float.tests] == ["fail"]  # no OverflowError out of run
