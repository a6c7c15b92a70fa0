"""One sample from start to verdict: which child runs it takes, and what each test's verdict is.

A ``SampleRun`` is a generator-driven state machine (``steps``): it yields a request, receives the
zygote's reply (or None after a second infra failure), and returns the ``Result``. Call and assert
tests share a child; a child that dies in test k leaves the tests before k their verdicts, k the
death's status, and a fresh child runs the tests after k while the sample's budget lasts (with
``stop_at_first_failure`` they are ``skipped`` instead). Each stdin/stdout test gets its own child.

Everything the child sent is a claim: records are decoded in bounded time (grade.py), values compared
here with the expected outputs only this process holds (compare.py). Times, CPU and kills come from
the zygote's measurements; ``syntax_error`` only from the compile marker the child writes before any
program code runs. Nothing a program sends can raise out of here: an unexpected error while grading
becomes that sample's ``runtime_error`` (never an ``infra_error``, which training masks).
"""

from __future__ import annotations

import logging
import marshal
import math
import time

from codeprm.errors import CodeprmError
from codeprm.problems.model import Problem
from codeprm.sandbox import compare, grade, hostassert
from codeprm.sandbox.config import SandboxConfig
from codeprm.sandbox.jail import wire
from codeprm.sandbox.result import Result, TestResult

log = logging.getLogger("codeprm.sandbox")


def encode_call_tests(problem: Problem) -> dict[int, dict]:
    """The inputs of a problem's call/assert tests as the child receives them; refuses malformed tests."""
    out = {}
    for i, t in enumerate(problem.tests):
        if t.kind == "call":
            try:
                out[i] = {"i": i, "kind": "call", "args": wire.to_tree(list(t.args)), "kwargs": wire.to_tree(dict(t.kwargs))}
            except wire.Unencodable as exc:
                raise CodeprmError(f"problem {problem.id!r}: test {i} input is not a builtin value ({exc})") from None
            try:
                wire.to_tree(t.expected)
            except wire.Unencodable as exc:
                raise CodeprmError(f"problem {problem.id!r}: test {i} expected output is not a builtin value ({exc})") from None
        elif t.kind == "assert":
            piece = hostassert.split(t.code, problem.entry_point)
            if piece is None:  # runs in the child: an untrusted verdict
                out[i] = {"i": i, "kind": "assert", "code": t.code}
            else:  # the child gets the calls' arguments only; "host" never leaves this process
                calls = [[wire.to_tree(list(a)), wire.to_tree(dict(k))] for a, k in piece.calls]
                out[i] = {"i": i, "kind": "calls", "calls": calls, "host": piece}
    return out


def _for_child(test: dict) -> dict:
    return {k: v for k, v in test.items() if k != "host"} if "host" in test else test


class SampleRun:
    def __init__(self, config: SandboxConfig, program: str, problem: Problem, coverage: bool,
                 stop_at_first_failure: bool, call_tests: dict[int, dict]):
        self.config, self.program, self.problem, self.coverage = config, program, problem, coverage
        self.stop = stop_at_first_failure
        self.call_tests = call_tests
        self.infra = ""
        self.n_lines = program.count("\n") + 1
        self.tests: list[TestResult | None] = [None] * len(problem.tests)
        self.lines: set[int] = set()
        self.error_line: int | None = None
        self.error_line_trusted = False  # True only for a syntax error's line (before program code ran)
        self.cpu_limit_s = problem.time_limit_s
        self.test_wall_s = config.wall_time_factor * problem.time_limit_s + config.wall_time_extra_s
        budget = config.sample_cpu_budget_s if config.sample_cpu_budget_s is not None else problem.time_limit_s * (len(problem.tests) + 1)
        self.cpu_left = budget
        # the wall slack is per test (each may wait on a loaded machine), not once per sample
        self.wall_left = config.wall_time_factor * budget + config.wall_time_extra_s * (len(problem.tests) + 1)
        tol = getattr(problem, "float_tolerance", None)
        self.tol = tol if tol is not None else config.float_tolerance
        self.stderr = ""

    # ---- the state machine -----------------------------------------------------------------------
    def steps(self):
        """Yields (control, job, stdin, timeout_s); receives a reply or None; returns the Result."""
        start = time.monotonic()
        calls = [i for i, t in enumerate(self.problem.tests) if t.kind != "stdio"]
        while calls:
            calls = yield from self._run_calls(calls)
            if calls and (self.stop or self.cpu_left <= 0.01 or self.wall_left <= 0.05):
                self._give_up(calls)
                calls = []
        for i, t in enumerate(self.problem.tests):
            if t.kind == "stdio" and self.tests[i] is None:
                if (self.stop and self._ended_badly()) or self.cpu_left <= 0.01 or self.wall_left <= 0.05:
                    self._give_up([i])
                else:
                    yield from self._run_stdio(i)
        return Result(problem_id=self.problem.id, tests=self.tests, error_line=self.error_line, isolation=self.config.isolation,
                      error_line_trusted=self.error_line_trusted and self.error_line is not None,
                      lines_executed=sorted(self.lines) if self.coverage else None, time_s=time.monotonic() - start)

    def _ended_badly(self) -> bool:
        """Whether a run ended in a way the program itself saw (crash, timeout, memory, output flood):
        a wrong answer does not stop the next stdin/stdout test, or being started would tell a program
        that its earlier output was right (an oracle of the expected outputs)."""
        return any(t is not None and t.status not in ("pass", "fail") for t in self.tests)

    def _give_up(self, indices: list[int]) -> None:
        for i in indices:
            if self.stop:
                self._set(i, "skipped", "not run: an earlier test failed (stop_at_first_failure)")
            else:
                self._set(i, "timeout", "the sample's CPU/wall budget was used up before this test")

    def _request(self, tests: list[dict], stdio: bool, stdin: str = ""):
        n_records = 1 if stdio else len(tests) + 1
        cfg = self.config
        sample_cpu = max(0.01, self.cpu_left)
        sample_wall = max(0.05, self.wall_left)
        control = {
            "n_records": n_records, "test_cpu_limit_s": self.cpu_limit_s, "test_wall_limit_s": self.test_wall_s,
            "sample_cpu_limit_s": sample_cpu, "sample_wall_limit_s": sample_wall,
            "rlimit_cpu_s": max(1, math.ceil(sample_cpu + 1)),
            "memory_limit_bytes": self.problem.memory_limit_mb << 20,
            "stdout_cap_bytes": cfg.stdout_limit_bytes, "stderr_cap_bytes": cfg.stderr_limit_bytes,
            "result_cap_bytes": cfg.result_limit_bytes, "file_size_bytes": cfg.file_size_limit_mb << 20,
            "open_files": cfg.open_files, "processes": cfg.max_processes,
        }
        job = {"program": self.program, "entry_point": self.problem.entry_point, "tests": tests,
               "test_setup": self.problem.test_setup, "stdio": stdio, "coverage": self.coverage}
        # one more request may be queued ahead of this one at the zygote
        timeout_s = 2 * (sample_wall + 1.0) + 30
        # marshal, not JSON: the child decodes it in a fraction of the CPU (fewer copy-on-write pages). It
        # is safe because this process wrote it and the child reads it before any program code runs; what
        # comes back from the child is JSON, never marshal.
        reply = yield control, marshal.dumps(job), stdin.encode("utf-8", "surrogateescape"), timeout_s
        if reply is not None:
            header = reply[0]
            self.cpu_left -= _number(header.get("cpu_time_s"))
            self.wall_left -= _number(header.get("wall_time_s"))
            keep = self.config.stderr_excerpt_chars
            self.stderr = reply[3][-keep * 4:].decode("utf-8", "replace") if keep else ""
        return reply

    def _set(self, index: int, status: str, detail: str = "", time_s: float = 0.0, cpu_s: float = 0.0, trusted: bool | None = None) -> None:
        keep = self.config.stderr_excerpt_chars
        excerpt = "" if status in ("pass", "skipped") or not keep else self.stderr[-keep:]
        if trusted is None:
            trusted = self.call_tests.get(index, {}).get("kind") != "assert"
        self.tests[index] = TestResult(status=status, detail=_clean(detail[:1000]), time_s=time_s, cpu_time_s=cpu_s,
                                       stderr=_clean(excerpt), trusted=trusted)

    def _note_exception(self, rec: dict) -> None:
        line = rec.get("line")
        if self.error_line is None and type(line) is int:
            self.error_line = max(1, min(line, self.n_lines))

    # ---- call and assert tests -------------------------------------------------------------------
    def _run_calls(self, pending: list[int]):
        reply = yield from self._request([_for_child(self.call_tests[i]) for i in pending], stdio=False)
        if reply is None:
            for i in pending:
                self._set(i, "infra_error", self.infra)
            return []
        try:
            return self._grade_run(pending, reply[0], reply[1])
        except Exception as exc:  # noqa: BLE001 - nothing a program sends may raise out of run/run_many
            log.warning("sandbox could not grade a sample of %s: %r", self.problem.id, exc)
            for i in pending:
                if self.tests[i] is None:
                    self._set(i, "runtime_error", f"the result could not be graded ({type(exc).__name__})")
            return []

    def _grade_run(self, pending: list[int], header: dict, blob: bytes) -> list[int]:
        """Grade one child run of call/assert tests; returns the tests still to run (after a death)."""
        stamps = _Stamps(header)
        if header.get("compiled") is False:  # trusted: written before any program code ran
            records = _safe_records(blob, 1)
            if records and type(records[0].get("line")) is int:
                self.error_line = max(1, min(records[0]["line"], self.n_lines))
                self.error_line_trusted = True
            detail = _exc_detail(records[0]) if records else "the program does not compile"
            for i in pending:
                self._set(i, "syntax_error", detail)
            return []
        if header.get("output_limit") == "result":
            for i in pending:
                self._set(i, "output_limit", "result exceeded its cap")
            return []
        try:
            records = grade.decode_records(blob, len(pending) + 1)
        except grade.Malformed as exc:
            for i in pending:
                self._set(i, "runtime_error", f"result stream tampered with ({exc})")
            return []
        if records and records[0].get("loaded") != 1:
            first = records[0]
            if first.get("i") == pending[0] and "err" in first and len(records) == 1:  # the program failed to load
                status, detail = grade.exception_status(first)
                self._note_exception(first)
                self.lines.update(grade.record_lines(first, self.n_lines))
                for i in pending:
                    self._set(i, status, detail)
                return []
            for i in pending:
                self._set(i, "runtime_error", "result stream tampered with (first record is not the load record)")
            return []
        if not records:
            status, detail = grade.death_status(header, self.cpu_limit_s)
            for i in pending:  # died before the program finished loading: no test can run
                self._set(i, status, detail, time_s=stamps.wall_total)
            return []
        self.lines.update(grade.record_lines(records[0], self.n_lines))
        flooded = header.get("output_limit")
        for pos, rec in enumerate(records[1:]):
            if rec.get("i") != pending[pos]:
                for i in pending[pos:]:
                    self._set(i, "runtime_error", "result stream tampered with (unexpected record)")
                return []
            self.lines.update(grade.record_lines(rec, self.n_lines))
            self._grade_call(pending[pos], rec, *stamps.window(pos + 1))
        done = len(records) - 1
        if flooded:  # stdout/stderr flood: every test of this run without a pass record is charged with it
            for i in pending:
                if self.tests[i] is None or self.tests[i].status != "pass":
                    self._set(i, "output_limit", f"{flooded} exceeded its cap")
            return []
        if done == len(pending):
            return []
        died = pending[done]
        status, detail = grade.death_status(header, self.cpu_limit_s)
        wall, cpu = stamps.after(done)
        self._set(died, status, detail, time_s=wall, cpu_s=cpu)
        return pending[done + 1:]

    def _grade_call(self, index: int, rec: dict, wall: float, cpu: float) -> None:
        test = self.problem.tests[index]
        if "err" in rec:
            status, detail = grade.exception_status(rec)
            if self.call_tests[index].get("kind") == "assert" and rec.get("err") == "AssertionError":
                status = "fail"
            if status != "fail":
                self._note_exception(rec)
            self._set(index, status, detail, wall, cpu)
        elif "host" in self.call_tests[index] and "ok" in rec:  # an assert judged here over the program's values
            piece = self.call_tests[index]["host"]
            try:
                values = grade.decode_value(rec["ok"])
            except ValueError as exc:
                self._set(index, "runtime_error", f"result stream tampered with ({exc})", wall, cpu)
                return
            if type(values) is not tuple or len(values) != len(piece.calls):
                self._set(index, "runtime_error", "malformed assert record", wall, cpu)
                return
            ok, detail = hostassert.judge(piece, values)
            self._set(index, "pass" if ok else "fail", detail, wall, cpu)
        elif test.kind == "assert" and "host" not in self.call_tests[index]:
            ok = rec.get("assert") == 1
            self._set(index, "pass" if ok else "runtime_error", "" if ok else "malformed assert record", wall, cpu)
        elif "unenc" in rec:
            self._set(index, "fail", f"returned a value that is not a builtin value: {str(rec['unenc'])[:200]}", wall, cpu)
        elif "ok" in rec:
            try:
                actual = grade.decode_value(rec["ok"])
            except ValueError as exc:
                self._set(index, "runtime_error", f"result stream tampered with ({exc})", wall, cpu)
                return
            if compare.values_equal(actual, test.expected, self.tol):
                self._set(index, "pass", "", wall, cpu)
            else:
                self._set(index, "fail", f"expected {compare.render(test.expected)}, got {compare.render(actual)}", wall, cpu)
        else:
            self._set(index, "runtime_error", "malformed result record", wall, cpu)

    # ---- stdin/stdout tests ----------------------------------------------------------------------
    def _run_stdio(self, index: int):
        test = self.problem.tests[index]
        reply = yield from self._request([{"i": index, "kind": "stdio"}], stdio=True, stdin=test.stdin)
        if reply is None:
            self._set(index, "infra_error", self.infra)
            return
        try:
            self._grade_stdio(index, *reply)
        except Exception as exc:  # noqa: BLE001
            log.warning("sandbox could not grade a sample of %s: %r", self.problem.id, exc)
            self._set(index, "runtime_error", f"the result could not be graded ({type(exc).__name__})")

    def _grade_stdio(self, index: int, header: dict, blob: bytes, out: bytes, _err: bytes) -> None:
        test = self.problem.tests[index]
        wall, cpu = _number(header.get("wall_time_s")), _number(header.get("cpu_time_s"))
        if header.get("compiled") is False:
            records = _safe_records(blob, 1)
            if records and type(records[0].get("line")) is int:
                self.error_line = max(1, min(records[0]["line"], self.n_lines))
                self.error_line_trusted = True
            detail = _exc_detail(records[0]) if records else "the program does not compile"
            for j, t in enumerate(self.problem.tests):  # no other stdio test can do better
                if t.kind == "stdio" and (j == index or self.tests[j] is None):
                    self._set(j, "syntax_error", detail, wall if j == index else 0.0)
            return
        if header.get("output_limit"):
            self._set(index, "output_limit", f"{header['output_limit']} exceeded its cap", wall, cpu)
            return
        try:
            records = grade.decode_records(blob, 1)
        except grade.Malformed as exc:
            self._set(index, "runtime_error", f"result stream tampered with ({exc})", wall, cpu)
            return
        rec = records[0] if records else None
        if rec is not None:
            self.lines.update(grade.record_lines(rec, self.n_lines))
        if rec is not None and rec.get("i") == index and "err" in rec:
            status, detail = grade.exception_status(rec)
            self._note_exception(rec)
            self._set(index, status, detail, wall, cpu)
            return
        # ``os._exit(0)`` (after a flush, as judges accept) skips the harness's exit record: an exit code of
        # 0 from the zygote's wait is the same normal end (the record adds no trust: a program can write it)
        exited = header.get("exit_code") == 0 and header.get("signal") is None and header.get("compiled") is True
        if rec is None and exited and header.get("killed_for") is None:
            rec = {"i": index, "exit": 0}
        if not (rec is not None and rec.get("i") == index and rec.get("exit") == 0 and header.get("killed_for") is None):
            if rec is not None and not (rec.get("i") == index and rec.get("exit") == 0):
                self._set(index, "runtime_error", "result stream tampered with (unexpected record)", wall, cpu)
            else:
                status, detail = grade.death_status(header, self.cpu_limit_s)
                self._set(index, status, detail, wall, cpu)
            return
        if compare.stdout_matches(out, test.stdout, self.tol, getattr(self.problem, "checker", "tokens") == "tokens_ignore_case"):
            self._set(index, "pass", "", wall, cpu)
        else:
            text = out[:400].decode("utf-8", "replace")
            self._set(index, "fail", f"expected stdout {compare.render(test.stdout)}, got {compare.render(text)}", wall, cpu)


class _Stamps:
    """When (wall, CPU since the child started) the zygote saw each record arrive."""

    def __init__(self, header: dict):
        cpu, wall = header.get("record_cpu_s"), header.get("record_wall_s")
        self.cpu = [_number(x) for x in cpu] if type(cpu) is list else []
        self.wall = [_number(x) for x in wall] if type(wall) is list else []
        self.cpu_total = _number(header.get("cpu_time_s"))
        self.wall_total = _number(header.get("wall_time_s"))

    def _at(self, seq: list[float], k: int, total: float) -> float:
        return seq[k] if k < len(seq) else total

    def window(self, k: int) -> tuple[float, float]:
        """(wall, CPU) between record k-1 and record k."""
        return (max(0.0, self._at(self.wall, k, self.wall_total) - self._at(self.wall, k - 1, self.wall_total)),
                max(0.0, self._at(self.cpu, k, self.cpu_total) - self._at(self.cpu, k - 1, self.cpu_total)))

    def after(self, k: int) -> tuple[float, float]:
        """(wall, CPU) from record k to the end of the run."""
        return (max(0.0, self.wall_total - self._at(self.wall, k, self.wall_total)),
                max(0.0, self.cpu_total - self._at(self.cpu, k, self.cpu_total)))


def _safe_records(blob: bytes, n: int) -> list[dict]:
    try:
        return grade.decode_records(blob[: 1 << 16], n) if len(blob) <= 1 << 16 else []
    except grade.Malformed:
        return []


def _exc_detail(rec: dict) -> str:
    name = rec.get("err") if type(rec.get("err")) is str else "SyntaxError"
    msg = rec.get("msg") if type(rec.get("msg")) is str else ""
    return f"{name[:100]}: {msg[:400]}"


def _clean(text: str) -> str:
    """Text a program chose, made safe to store: a lone surrogate would make ``model_dump_json`` raise."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _number(value) -> float:
    return float(value) if type(value) in (int, float) and value == value else 0.0
