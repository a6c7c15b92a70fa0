"""``Sandbox``: run untrusted programs against a problem's tests and return trusted verdicts.

    with Sandbox() as sandbox:
        result = sandbox.run(program, problem)          # one sample
        results = sandbox.run_many([(program, problem), ...], stop_at_first_failure=True)
        result = await sandbox.arun(program, problem)   # from asyncio

This file is the facade: lifecycle, input checks, one thread per worker. The layers below it:
scheduler.py feeds each zygote (pipelining, retries, replacement), judge.py turns one sample's child
runs into verdicts, compare.py and grade.py are the rules it applies, worker.py is the host's handle on
a zygote, and jail/ holds everything that runs on the far side of the trust boundary (stdlib only:
the zygote, its supervisor, the child harness, the wire encoding).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterable

from pydantic import ValidationError

from codeprm.errors import CodeprmError
from codeprm.problems.model import Problem
from codeprm.sandbox import native
from codeprm.sandbox.config import SandboxConfig
from codeprm.sandbox.judge import SampleRun, encode_call_tests
from codeprm.sandbox.result import Result
from codeprm.sandbox.scheduler import drive
from codeprm.sandbox.worker import Zygote

log = logging.getLogger("codeprm.sandbox")


class Sandbox:
    def __init__(self, config: SandboxConfig | None = None, **overrides: Any):
        try:  # validate overrides too (model_copy alone would not)
            base = (config or SandboxConfig()).model_dump()
            self.config = SandboxConfig.model_validate({**base, **overrides})
            # compiled languages run in-process from a shared object: their runtime joins the allow-list
            runtimes = [p for p in native.runtime_paths(self.config.languages) if p not in self.config.extra_paths]
            self.config = self.config.model_copy(update={"extra_paths": [*self.config.extra_paths, *runtimes]})
        except ValidationError as exc:
            err = exc.errors()[0]
            raise CodeprmError(f"sandbox option '{'.'.join(map(str, err['loc']))}': {err['msg']}") from None
        self._idle: queue.Queue[Zygote] = queue.Queue()
        self._workers: list[Zygote] = []
        self._closed = False
        self._compiler: native.Compiler | None = None
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
            (f"isolation={self.config.isolation}", self.config.isolation != "full"),
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
        if getattr(self, "_compiler", None) is not None:
            self._compiler.close()
        for z in self._workers:
            z.kill()

    def __del__(self) -> None:  # a forgotten close() must not leak zygotes
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass

    # ---- public API ------------------------------------------------------------------------------
    def run(self, program: str, problem: Problem, coverage: bool | None = None,
            stop_at_first_failure: bool | None = None) -> Result:
        """Run ``program`` against every test of ``problem``; blocks for a free worker."""
        return self._run_pairs([(program, problem)], coverage, stop_at_first_failure, None, parallel=False)[0]

    def run_many(self, pairs: Iterable[tuple[str, Problem]], coverage: bool | None = None,
                 on_result: Callable[[int, Result], None] | None = None,
                 stop_at_first_failure: bool | None = None) -> list[Result]:
        """Results in input order; every worker busy (with its next request queued) until the list is done."""
        return self._run_pairs(list(pairs), coverage, stop_at_first_failure, on_result, parallel=True)

    def _run_pairs(self, pairs: list[tuple[str, Problem]], coverage: bool | None, stop: bool | None,
                   on_result: Callable[[int, Result], None] | None, parallel: bool) -> list[Result]:
        if any(problem.language != "python" for _, problem in pairs if isinstance(problem, Problem)):
            return self._run_native(pairs, coverage, stop, on_result, parallel)
        encoded: dict[int, dict[int, dict]] = {}  # per distinct problem object, its test inputs encoded once
        for program, problem in pairs:
            self._check(program, problem)
            if id(problem) not in encoded:
                encoded[id(problem)] = encode_call_tests(problem)
        if self._closed:
            raise CodeprmError("this Sandbox is closed")
        coverage = self.config.coverage if coverage is None else coverage
        stop = self.config.stop_at_first_failure if stop is None else stop
        results: list[Result | None] = [None] * len(pairs)
        todo = iter(range(len(pairs)))
        lock = threading.Lock()

        def next_run() -> tuple[int, SampleRun] | None:
            with lock:
                index = next(todo, None)
            if index is None:
                return None
            program, problem = pairs[index]
            return index, SampleRun(self.config, program, problem, coverage, stop, encoded[id(problem)])

        def finish(index: int, result: Result) -> None:
            results[index] = result
            if on_result is not None:
                on_result(index, result)

        def work() -> None:
            worker = self._idle.get()
            try:
                drive(worker, next_run, finish)
            finally:
                self._idle.put(worker)

        if parallel and len(pairs) > 1:
            for future in [self._pool.submit(work) for _ in range(min(len(pairs), len(self._workers)))]:
                future.result()
        else:
            work()
        return results  # type: ignore[return-value]

    def compiler(self) -> native.Compiler:
        """The compiler of this sandbox's compiled languages (one cache; the compile jail follows ``isolation``)."""
        with self._lock:
            if self._compiler is None:
                self._compiler = native.Compiler(isolate=self.config.isolation == "full")
            return self._compiler

    def _run_native(self, pairs, coverage, stop, on_result, parallel) -> list[Result]:
        """Compiled languages: compile each sample once (cached), run launchers (codeprm.sandbox.native)."""
        for program, problem in pairs:  # the launchers get the full check; entry points are the harness's
            self._check(program, problem.model_copy(update={"entry_point": problem.entry_point or "main"}))
        results = native.run_pairs(self, self.compiler(), pairs,
                                   lambda jobs: self._run_pairs(jobs, coverage, stop, None, parallel))
        for index, result in enumerate(results):
            if on_result is not None:
                on_result(index, result)
        return results

    async def arun(self, program: str, problem: Problem, coverage: bool | None = None,
                   stop_at_first_failure: bool | None = None) -> Result:
        """``run`` for asyncio code: the event loop stays free while a worker runs the sample."""
        self._check(program, problem)
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, lambda: self.run(program, problem, coverage, stop_at_first_failure))

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


def _try(fn, *args):
    try:
        return fn(*args)
    except BaseException as exc:  # noqa: BLE001 - reported by the caller after the others started
        return exc
