"""``Sandbox``: run untrusted programs against a problem's tests and return trusted verdicts.

    with Sandbox() as sandbox:
        result = sandbox.run(program, problem)          # one sample
        results = sandbox.run_many([(program, problem), ...])   # all workers busy
        result = await sandbox.arun(program, problem)   # from asyncio

Each worker is a warm zygote (see zygote.py) that forks a fresh isolated child per request. The child
gets only the test inputs; this process holds the expected outputs and decides every verdict
(grade.py). A worker that dies is replaced and its sample retried once; only a second failure is
reported, as infra_error (never as a fail).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import queue
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterable

from pydantic import ValidationError

from codeprm.errors import CodeprmError
from codeprm.problems.model import Problem
from codeprm.sandbox import grade, wire
from codeprm.sandbox.config import SandboxConfig
from codeprm.sandbox.result import Result, TestResult
from codeprm.sandbox.worker import WorkerDied, Zygote

log = logging.getLogger("codeprm.sandbox")


class Sandbox:
    def __init__(self, config: SandboxConfig | None = None, **overrides: Any):
        try:  # validate overrides too (model_copy alone would not)
            base = (config or SandboxConfig()).model_dump()
            self.config = SandboxConfig.model_validate({**base, **overrides})
        except ValidationError as exc:
            err = exc.errors()[0]
            raise CodeprmError(f"sandbox option '{'.'.join(map(str, err['loc']))}': {err['msg']}") from None
        self._idle: queue.Queue[Zygote] = queue.Queue()
        self._workers: list[Zygote] = []
        self._closed = False
        self._lock = threading.Lock()
        with ThreadPoolExecutor(self.config.workers) as pool:  # zygotes start in parallel
            started = list(pool.map(lambda i: _try(Zygote, self.config, i), range(self.config.workers)))
        errors = [z for z in started if isinstance(z, BaseException)]
        for z in started:
            if isinstance(z, Zygote):
                self._workers.append(z)
                self._idle.put(z)
        if errors:
            self.close()
            raise errors[0]
        self.mechanisms = self._workers[0].mechanisms
        fs = self.mechanisms.get("filesystem", "")
        weaker = [name for name, missing in (
            ("isolation=rlimits-only", self.config.isolation != "full"),
            ("no cgroup limits", "cgroup" not in self.mechanisms and self.config.cgroup != "off"),
            ("some mounts left writable", "left writable" in fs),
            ("other processes visible in /proc", "shows every process" in fs),
            ("host filesystem visible (no allow-list root)", "host filesystem visible" in fs)) if missing]
        # one line at start-up saying what is enforced; a warning when anything weaker than full is in force
        log.log(logging.WARNING if weaker else logging.INFO, "sandbox: isolation=%s, %d workers%s; %s",
                self.config.isolation, len(self._workers), f" (WEAKER: {', '.join(weaker)})" if weaker else "",
                "; ".join(f"{k}: {v}" for k, v in self.mechanisms.items()))
        self._pool = ThreadPoolExecutor(self.config.workers, thread_name_prefix="codeprm-sandbox")

    # ---- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if hasattr(self, "_pool"):
            self._pool.shutdown(wait=True)
        for z in self._workers:
            z.kill()

    def __del__(self) -> None:  # a forgotten close() must not leak zygotes
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass

    # ---- public API ------------------------------------------------------------------------------
    def run(self, program: str, problem: Problem, coverage: bool | None = None) -> Result:
        """Run ``program`` against every test of ``problem``; blocks for a free worker."""
        return self._run_pairs([(program, problem)], coverage, None, parallel=False)[0]

    def run_many(self, pairs: Iterable[tuple[str, Problem]], coverage: bool | None = None,
                 on_result: Callable[[int, Result], None] | None = None) -> list[Result]:
        """Results in input order; every worker busy (with its next request queued) until the list is done."""
        return self._run_pairs(list(pairs), coverage, on_result, parallel=True)

    def _run_pairs(self, pairs: list[tuple[str, Problem]], coverage: bool | None,
                   on_result: Callable[[int, Result], None] | None, parallel: bool) -> list[Result]:
        for program, problem in pairs:
            self._check(program, problem)
        if self._closed:
            raise CodeprmError("this Sandbox is closed")
        coverage = self.config.coverage if coverage is None else coverage
        results: list[Result | None] = [None] * len(pairs)
        todo = iter(range(len(pairs)))
        lock = threading.Lock()

        def next_run() -> tuple[int, "_Run"] | None:
            with lock:
                index = next(todo, None)
            return None if index is None else (index, _Run(self.config, *pairs[index], coverage))

        def finish(index: int, result: Result) -> None:
            results[index] = result
            if on_result is not None:
                on_result(index, result)

        def drive() -> None:
            worker = self._idle.get()
            try:
                _drive(worker, next_run, finish)
            finally:
                self._idle.put(worker)

        if parallel and len(pairs) > 1:
            for future in [self._pool.submit(drive) for _ in range(min(len(pairs), len(self._workers)))]:
                future.result()
        else:
            drive()
        return results  # type: ignore[return-value]

    async def arun(self, program: str, problem: Problem, coverage: bool | None = None) -> Result:
        """``run`` for asyncio code: the event loop stays free while a worker runs the sample."""
        self._check(program, problem)
        return await asyncio.get_running_loop().run_in_executor(self._pool, lambda: self.run(program, problem, coverage))

    # ---- input checks ----------------------------------------------------------------------------
    @staticmethod
    def _check(program: Any, problem: Any) -> None:
        if not isinstance(program, str):
            raise CodeprmError(f"a program must be text (str), not {type(program).__name__}")
        if not isinstance(problem, Problem):
            raise CodeprmError(f"expected a Problem, not {type(problem).__name__}")
        if not problem.tests:
            raise CodeprmError(f"problem {problem.id!r} has no tests")
        if not 0 < problem.time_limit_s <= 600:
            raise CodeprmError(f"problem {problem.id!r}: time_limit_s must be in (0, 600], got {problem.time_limit_s}")
        if not 16 <= problem.memory_limit_mb <= 65536:
            raise CodeprmError(f"problem {problem.id!r}: memory_limit_mb must be in [16, 65536], got {problem.memory_limit_mb}")
        for i, test in enumerate(problem.tests):
            if test.kind not in ("call", "stdio", "assert"):
                raise CodeprmError(f"problem {problem.id!r}: test {i} has unknown kind {test.kind!r}")
            if test.kind != "stdio" and not problem.entry_point:
                raise CodeprmError(f"problem {problem.id!r}: {test.kind} test {i} needs an entry_point")


PIPELINE_DEPTH = 2  # requests queued at a zygote: it starts the next sample without waiting for us
PIPELINE_MAX_BYTES = 16 << 10  # larger requests wait for an idle zygote (two full pipes would deadlock)


class _InFlight:
    __slots__ = ("run", "steps", "index", "payload", "timeout_s", "attempt")

    def __init__(self, run: "_Run", steps, index: int, request: tuple[dict, float]):
        self.run, self.steps, self.index = run, steps, index
        self.payload = json.dumps(request[0]).encode()
        self.timeout_s = request[1]
        self.attempt = 1


def _drive(worker: Zygote, next_run: Callable[[], tuple[int, "_Run"] | None], finish: Callable[[int, Result], None]) -> None:
    """Feed one zygote: keep up to PIPELINE_DEPTH requests queued at it, hand each reply to the sample
    that asked, retry once on a fresh zygote when a request's worker died or its child failed set-up."""
    inflight: deque[_InFlight] = deque()
    try:
        _drive_loop(worker, next_run, finish, inflight)
    except BaseException:
        if inflight:  # replies we will never read are queued at this zygote: the next user must not get them
            try:
                worker.restart()
            except Exception:  # noqa: BLE001 - the original error matters more
                pass
        raise


def _drive_loop(worker: Zygote, next_run, finish, inflight: "deque[_InFlight]") -> None:
    to_send: deque[_InFlight] = deque()

    def advance(run: "_Run", steps, index: int, value) -> _InFlight | None:
        try:
            request = steps.send(value)
        except StopIteration as stop:
            finish(index, stop.value)
            return None
        return _InFlight(run, steps, index, request)

    while True:
        while len(inflight) < PIPELINE_DEPTH:
            if to_send:
                if inflight and len(to_send[0].payload) > PIPELINE_MAX_BYTES:
                    break
                item = to_send.popleft()
                try:
                    worker.send(item.payload)
                except WorkerDied:
                    to_send.appendleft(item)
                    break  # noticed at the next recv (or below when nothing is in flight)
                inflight.append(item)
                continue
            got = next_run()
            if got is None:
                break
            index, run = got
            steps = run.steps()
            item = advance(run, steps, index, None)
            if item is not None:
                to_send.append(item)
        if not inflight:
            if not to_send:
                return
            failed = [to_send.popleft()]  # could not even be sent: the worker is dead
            why, dead = "the zygote is not running", True
        else:
            item = inflight.popleft()
            try:
                reply = worker.recv(item.timeout_s)
            except WorkerDied as exc:
                failed, why, dead = [item, *inflight], str(exc), True
                inflight.clear()
            else:
                if not reply[0].get("infra"):
                    nxt = advance(item.run, item.steps, item.index, reply)
                    if nxt is not None:
                        to_send.appendleft(nxt)  # finish started samples first
                    continue
                failed, why, dead = [item], reply[0]["infra"], False
        if dead:
            try:
                worker.restart()
            except CodeprmError as exc:
                why += f"; restart failed: {exc}"
        for item in reversed(failed):
            log.warning("sandbox infra error on %s (attempt %d): %s", item.run.problem.id, item.attempt, why)
            if item.attempt == 1:
                item.attempt = 2
                to_send.appendleft(item)
            else:
                item.run.infra = why
                nxt = advance(item.run, item.steps, item.index, None)
                if nxt is not None:
                    to_send.appendleft(nxt)


def _try(fn, *args):
    try:
        return fn(*args)
    except BaseException as exc:  # noqa: BLE001 - reported by the caller after the others started
        return exc


class _Run:
    """One sample: as many child runs as it takes (call/assert tests share a child; a child that dies
    mid-way is restarted after the test it died on; each stdio test gets its own child)."""

    def __init__(self, config: SandboxConfig, program: str, problem: Problem, coverage: bool):
        self.config, self.program, self.problem, self.coverage = config, program, problem, coverage
        self.infra = ""
        self.n_lines = program.count("\n") + 1
        self.tests: list[TestResult | None] = [None] * len(problem.tests)
        self.lines: set[int] = set()
        self.error_line: int | None = None
        self.cpu_limit_s = problem.time_limit_s
        self.wall_s = config.wall_time_factor * problem.time_limit_s + config.wall_time_extra_s
        self.stderr = ""

    def steps(self):
        """A generator: yields (request, timeout_s), receives the zygote's reply (None after a second
        infra failure, with ``self.infra`` saying why), returns the Result."""
        start = time.monotonic()
        calls = [i for i, t in enumerate(self.problem.tests) if t.kind != "stdio"]
        while calls:
            calls = yield from self._run_calls(calls)
        for i, t in enumerate(self.problem.tests):
            if t.kind == "stdio" and self.tests[i] is None:
                yield from self._run_stdio(i)
        return Result(problem_id=self.problem.id, tests=self.tests, error_line=self.error_line,
                      lines_executed=sorted(self.lines) if self.coverage else None, time_s=time.monotonic() - start)

    # ---- talking to the worker -------------------------------------------------------------------
    def _request(self, tests: list[dict], stdio: bool, stdin: str = ""):
        n_frames = 1 if stdio else len(tests) + 1
        req = {
            "program": self.program, "entry_point": self.problem.entry_point, "tests": tests,
            "test_setup": self.problem.test_setup, "stdio": stdio, "stdin": stdin, "coverage": self.coverage,
            "wall_s": self.wall_s, "test_cpu_s": self.cpu_limit_s, "cpu_s": max(1, math.ceil(self.cpu_limit_s * n_frames + 1)),
            "mem_bytes": self.problem.memory_limit_mb << 20, "expected_frames": n_frames,
            "stdout_cap": self.config.stdout_limit_bytes, "stderr_cap": self.config.stderr_limit_bytes,
            "result_cap": self.config.result_limit_bytes, "fsize_bytes": self.config.file_size_limit_mb << 20,
            "open_files": self.config.open_files, "processes": self.config.max_processes,
        }
        # the zygote checks progress every <=0.5 s, so a test may use up to wall_s + 0.5 before it is killed;
        # one more request may be queued ahead of this one
        timeout_s = 2 * (self.wall_s + 0.5) * (n_frames + 1) + 30
        return (yield req, timeout_s)

    def _set(self, index: int, status: str, detail: str = "", time_s: float = 0.0, trusted: bool = True) -> None:
        excerpt = "" if status == "pass" else self.stderr[-self.config.stderr_excerpt_chars:] if self.config.stderr_excerpt_chars else ""
        self.tests[index] = TestResult(status=status, detail=detail[:1000], time_s=time_s, stderr=excerpt, trusted=trusted)

    def _note_exception(self, rec: dict) -> None:
        line = rec.get("line")
        if self.error_line is None and type(line) is int and 1 <= line <= self.n_lines and rec.get("syntax") != 1:
            self.error_line = line
        elif self.error_line is None and rec.get("syntax") == 1 and type(line) is int:
            self.error_line = max(1, min(line, self.n_lines))

    # ---- call and assert tests -------------------------------------------------------------------
    def _run_calls(self, pending: list[int]) -> list[int]:
        tests = []
        for i in pending:
            t = self.problem.tests[i]
            if t.kind == "call":
                try:
                    tests.append({"i": i, "kind": "call", "args": wire.to_tree(list(t.args)), "kwargs": wire.to_tree(dict(t.kwargs))})
                except wire.Unencodable as exc:
                    raise CodeprmError(f"problem {self.problem.id!r}: test {i} input is not a builtin value ({exc})") from None
            else:
                tests.append({"i": i, "kind": "assert", "code": t.code})
        reply = yield from self._request(tests, stdio=False)
        if reply is None:
            for i in pending:
                self._set(i, "infra_error", self.infra, trusted=self.problem.tests[i].kind == "call")
            return []
        header, blob, _out, err = reply
        self.stderr = err.decode("utf-8", "replace")
        if header.get("output_limit"):  # a flood: every test of this run without a pass record is charged with it
            self._grade_run(pending, header, blob)
            for i in pending:
                if self.tests[i] is None or self.tests[i].status != "pass":
                    self._set(i, "output_limit", f"{header['output_limit']} exceeded its cap",
                              trusted=self.problem.tests[i].kind == "call")
            return []
        return self._grade_run(pending, header, blob)

    def _grade_run(self, pending: list[int], header: dict, blob: bytes) -> list[int]:
        """Grade one child run of call/assert tests; returns the tests still to run (after a death)."""
        try:
            records = grade.decode_records(blob)
        except grade.Malformed as exc:
            records, malformed = [], str(exc)
        else:
            malformed = ""
        if not malformed and records and records[0].get("loaded") != 1:
            first = records[0]
            if first.get("i") == pending[0] and "err" in first:  # the program failed to load: every test fails
                status, detail = grade.exception_status(first)
                self._note_exception(first)
                self.lines.update(grade.record_lines(first, self.n_lines))
                for i in pending:
                    self._set(i, status, detail, trusted=self.problem.tests[i].kind == "call")
                return []
            malformed = "first record is not the load record"
        if not records or malformed:
            status, detail = ("runtime_error", f"result stream tampered with ({malformed})") if malformed else grade.death_status(header, self.cpu_limit_s)
            for i in pending:  # died before the program finished loading: no test can run
                self._set(i, status, detail, time_s=header.get("wall_s", 0.0), trusted=self.problem.tests[i].kind == "call")
            return []
        self.lines.update(grade.record_lines(records[0], self.n_lines))
        pos = 0
        for k, rec in enumerate(records[1:], start=1):
            if pos >= len(pending) or rec.get("i") != pending[pos]:
                for i in pending[pos:]:
                    self._set(i, "runtime_error", "result stream tampered with (unexpected record)",
                              trusted=self.problem.tests[i].kind == "call")
                return []
            elapsed = _reported_time(rec, header)
            self.lines.update(grade.record_lines(rec, self.n_lines))
            self._grade_call(pending[pos], rec, elapsed)
            pos += 1
        if pos == len(pending):
            return []
        died = pending[pos]
        status, detail = grade.death_status(header, self.cpu_limit_s)
        elapsed = header.get("wall_s", 0.0) - sum(_reported_time(rec, header) for rec in records[1:])
        self._set(died, status, detail, time_s=max(0.0, elapsed), trusted=self.problem.tests[died].kind == "call")
        return pending[pos + 1:]

    def _grade_call(self, index: int, rec: dict, elapsed: float) -> None:
        test = self.problem.tests[index]
        trusted = test.kind == "call"
        if "err" in rec:
            status, detail = grade.exception_status(rec)
            if test.kind == "assert" and rec.get("err") == "AssertionError":
                status = "fail"
            self._note_exception(rec) if status != "fail" else None
            self._set(index, status, detail, elapsed, trusted)
        elif test.kind == "assert":
            ok = rec.get("assert") == 1
            self._set(index, "pass" if ok else "runtime_error", "" if ok else "malformed assert record", elapsed, trusted=False)
        elif "unenc" in rec:
            self._set(index, "fail", f"returned a value that is not a builtin value: {str(rec['unenc'])[:200]}", elapsed)
        elif "ok" in rec:
            try:
                actual = grade.decode_value(rec["ok"])
            except ValueError as exc:
                self._set(index, "runtime_error", f"result stream tampered with ({exc})", elapsed)
                return
            if grade.values_equal(actual, test.expected, self.config.float_rel_tol, self.config.float_abs_tol):
                self._set(index, "pass", "", elapsed)
            else:
                self._set(index, "fail", f"expected {_short(test.expected)}, got {_short(actual)}", elapsed)
        else:
            self._set(index, "runtime_error", "malformed result record", elapsed)

    # ---- stdin/stdout tests ----------------------------------------------------------------------
    def _run_stdio(self, index: int) -> None:
        test = self.problem.tests[index]
        reply = yield from self._request([{"i": index, "kind": "stdio"}], stdio=True, stdin=test.stdin)
        if reply is None:
            self._set(index, "infra_error", self.infra)
            return
        header, blob, out, err = reply
        self.stderr = err.decode("utf-8", "replace")
        wall = header.get("wall_s", 0.0)
        if header.get("output_limit"):
            self._set(index, "output_limit", f"{header['output_limit']} exceeded its cap", wall)
            return
        try:
            records = grade.decode_records(blob)
        except grade.Malformed as exc:
            self._set(index, "runtime_error", f"result stream tampered with ({exc})", wall)
            return
        rec = records[0] if records else None
        if rec is not None:
            self.lines.update(grade.record_lines(rec, self.n_lines))
        if rec is not None and rec.get("i") == index and "err" in rec:
            status, detail = grade.exception_status(rec)
            self._note_exception(rec)
            self._set(index, status, detail, wall)
            if status == "syntax_error":  # no other stdio test can do better
                for j, t in enumerate(self.problem.tests):
                    if t.kind == "stdio" and self.tests[j] is None:
                        self._set(j, status, detail)
            return
        normal_end = (rec is not None and rec.get("i") == index and rec.get("exit") == 0) or (
            rec is None and header.get("exit") == 0 and not header.get("timeout") and not header.get("output_limit"))
        if not normal_end:
            if rec is not None and not (rec.get("i") == index and rec.get("exit") == 0):
                self._set(index, "runtime_error", "result stream tampered with (unexpected record)", wall)
            else:
                status, detail = grade.death_status(header, self.cpu_limit_s)
                self._set(index, status, detail, wall)
            return
        text = out.decode("utf-8", "replace")
        if grade.stdout_matches(text, test.stdout, self.config.float_rel_tol, self.config.float_abs_tol):
            self._set(index, "pass", "", wall)
        else:
            self._set(index, "fail", f"expected stdout {_short(test.stdout)}, got {_short(text)}", wall)


def _reported_time(rec: dict, header: dict) -> float:
    """A test's duration as the child measured it, clamped to what the zygote saw (the child may lie)."""
    t = rec.get("t")
    return min(max(0.0, t), header.get("wall_s", 0.0)) if type(t) is float and t == t else 0.0


def _short(value: Any, limit: int = 200) -> str:
    try:
        text = repr(value)
    except ValueError:  # an int past Python's str-conversion digit limit (4300 digits by default)
        return f"<{type(value).__name__} too large to show>"
    return text if len(text) <= limit else text[:limit] + "..."
