"""``codeprm bench label``: binary search against the linear scan on the same sampled responses.

Each response is labeled four ways: ``linear`` (the baseline: every prefix probed) and ``binary``, as
the methods run by default (f = 1 also when a passing sibling response runs through the prefix: free
evidence), and both again with f from the K rollouts alone (the paper's search; keys ``plain_*``), so
the effect of the evidence is visible on its own. Agreement compares binary with the
linear scan of the same definition of f.

Both methods share one rollout/verdict cache and the same per-prefix seeds, so they see identical
f(prefix) values and differ only in which prefixes they probe; rollouts are counted as if uncached
(K per probed prefix), the cost each method would pay alone. Linear is the baseline: exact, L probes.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from codeprm.labels.cache import ProbeCache, content_key, open_db
from codeprm.labels.labelers import BinaryLabeler, LinearLabeler, VerdictUnknown
from codeprm.labels.job import LabelConfig, sample_responses
from codeprm.labels.lines import prefix_text
from codeprm.labels.probe import Judge, Prober, Sampling
from codeprm.labels.rows import LineLabels
from codeprm.problems import load_benchmark

LENGTH_BUCKETS = [(0, 3), (4, 7), (8, 15), (16, 31), (32, 10**9)]


class LabelBenchConfig(BaseModel):
    policy: str = Field(default="tiny", description="policy spec that writes the responses and rollouts")
    benchmark: str = Field(default="synth:heldout", description="benchmark name, see load_benchmark")
    limit: int | None = Field(default=30, ge=1, description="first LIMIT problems (None: all)")
    samples: int = Field(default=4, ge=1, description="responses sampled per problem")
    k: int = Field(default=4, ge=1, description="rollouts per probed prefix")
    temperature: float = Field(default=0.8, ge=0.0, le=5.0, description="sampling temperature")
    top_p: float = Field(default=0.95, gt=0.0, le=1.0, description="nucleus sampling mass")
    max_new_tokens: int = Field(default=256, ge=1, description="generation budget per response or rollout")
    seed: int = Field(default=0, description="base seed")


def probe_bound(n_lines: int) -> int:
    """The goal's cap on binary probes for a failing response of L lines: ceil(log2 L) + 2."""
    return math.ceil(math.log2(max(n_lines, 1))) + 2


def _bucket(n_lines: int) -> str:
    for lo, hi in LENGTH_BUCKETS:
        if lo <= n_lines <= hi:
            return f"{lo}-{hi}" if hi < 10**9 else f"{lo}+"
    return "0"


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def probed_prefixes(row: LineLabels) -> set[tuple[str, str]]:
    """(problem id, prefix text) of every prefix a labeled row probed."""
    keys = {(row.problem_id, "")} if row.empty_prefix_value is not None else set()
    keys |= {(row.problem_id, prefix_text(row.lines, i + 1)) for i, v in enumerate(row.prefix_values) if v is not None}
    return keys


def summarize_records(records: list[dict]) -> dict:
    """The benchmark's numbers from per-response records (pure, for testing)."""

    def totals(rs: list[dict]) -> dict:
        searched = [r for r in rs if not r["passed"] and not r["beyond_policy"]]
        agree = [r["binary_first_error"] == r["linear_first_error"] for r in searched]
        b, lin = sum(r["binary_rollouts"] for r in rs), sum(r["linear_rollouts"] for r in rs)
        b_searched, lin_searched = sum(r["binary_rollouts"] for r in searched), sum(r["linear_rollouts"] for r in searched)
        failing = [r for r in rs if not r["passed"]]
        plain = sum(r.get("plain_rollouts", 0) for r in rs)
        plain_lin = sum(r.get("plain_linear_rollouts", r["linear_rollouts"]) for r in rs)
        plain_searched = [r for r in rs if not r["passed"] and not r.get("plain_beyond_policy", r["beyond_policy"])]
        plain_agree = [r.get("plain_first_error") == r.get("plain_linear_first_error", r["linear_first_error"]) for r in plain_searched]
        return {
            "responses": len(rs), "failing": len(failing), "searched": len(searched),
            "plain_binary_rollouts_per_response": plain / len(rs) if rs else 0.0,
            "plain_linear_rollouts_per_response": plain_lin / len(rs) if rs else 0.0,
            "plain_binary_over_linear": _ratio(plain, plain_lin),
            "plain_first_error_agreement": sum(plain_agree) / len(plain_agree) if plain_agree else None,
            "plain_probes_max": max((r.get("plain_probes", 0) for r in failing), default=None),
            "plain_probe_bound_exceeded": sum(r.get("plain_probes", 0) > probe_bound(r["lines"]) for r in failing),
            "binary_rollouts_per_response": b / len(rs) if rs else 0.0,
            "linear_rollouts_per_response": lin / len(rs) if rs else 0.0,
            "binary_over_linear": _ratio(b, lin),
            "searched_binary_over_linear": _ratio(b_searched, lin_searched),
            "first_error_agreement": sum(agree) / len(agree) if agree else None,
            "binary_probes_mean": sum(r["binary_probes"] for r in failing) / len(failing) if failing else None,
            "binary_probes_max": max((r["binary_probes"] for r in failing), default=None),
            "linear_probes_mean": sum(r["linear_probes"] for r in failing) / len(failing) if failing else None,
            "probe_bound_exceeded": sum(r["binary_probes"] > probe_bound(r["lines"]) for r in failing),
        }

    overall = totals(records)
    long = [r for r in records if r["lines"] >= 16]
    by_length = []
    for lo, hi in LENGTH_BUCKETS:
        rs = [r for r in records if lo <= r["lines"] <= hi]
        if rs:
            by_length.append({"lines": _bucket(lo), **totals(rs)})
    return {
        **overall,
        "long_binary_over_linear": totals(long)["binary_over_linear"] if long else None,
        "long_plain_binary_over_linear": totals(long)["plain_binary_over_linear"] if long else None,
        "long_responses": len(long),
        "passed": sum(r["passed"] for r in records),
        "beyond_policy": sum(r["beyond_policy"] for r in records),
        "monotonic_violations": sum(r["linear_violation"] for r in records),
        "plain_monotonic_violations": sum(r.get("plain_linear_violation", False) for r in records),
        "plain_beyond_policy": sum(r.get("plain_beyond_policy", False) for r in records),
        "by_length": by_length,
    }


def run_label_bench(config: LabelBenchConfig, policy: Any = None, sandbox: Any = None, cache_path: Path | None = None,
                    show_progress: bool = True) -> dict:
    problems = load_benchmark(config.benchmark)
    if config.limit:
        problems = problems[: config.limit]
    if policy is None:
        from codeprm.policy.registry import load_policy

        policy = load_policy(config.policy)
    own_sandbox = sandbox is None
    if own_sandbox:
        from codeprm.sandbox import Sandbox

        sandbox = Sandbox().__enter__()
    started = time.perf_counter()
    cache = ProbeCache(open_db(cache_path) if cache_path else None)
    judge = Judge(sandbox, cache)
    sampling = Sampling(k=config.k, temperature=config.temperature, top_p=config.top_p,
                        max_new_tokens=config.max_new_tokens, seed=config.seed)
    prober = Prober(policy, config.policy, judge, cache, sampling)
    binary, linear = BinaryLabeler(judge, prober), LinearLabeler(judge, prober)
    plain, plain_linear = BinaryLabeler(judge, prober, use_evidence=False), LinearLabeler(judge, prober, use_evidence=False)
    job = LabelConfig(policy=config.policy, benchmark=config.benchmark, k=config.k, samples=config.samples,
                      temperature=config.temperature, top_p=config.top_p, max_new_tokens=config.max_new_tokens, seed=config.seed)
    records, skipped, fresh = [], 0, 0
    distinct: dict[str, set] = {"binary": set(), "linear": set(), "plain_binary": set(), "plain_linear": set()}
    columns = [TextColumn("[bold]bench label[/bold]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    try:
        with Progress(*columns, disable=not show_progress) as progress:
            task = progress.add_task("", total=len(problems) * config.samples)
            for problem in problems:
                key = content_key("responses", config.policy, policy.prompt_for(problem), job.identity())
                responses = cache.get_rollouts(key)  # the cache file makes an interrupted bench cheap to rerun
                if responses is None:
                    responses = sample_responses(policy, problem, job)
                    cache.put_rollouts(key, responses)
                for i, completion in enumerate(responses):
                    try:
                        lin = linear.label(problem, completion, i, siblings=responses)
                        b = binary.label(problem, completion, i, siblings=responses)
                        p = plain.label(problem, completion, i)
                        pl = plain_linear.label(problem, completion, i)
                    except VerdictUnknown:
                        skipped += 1
                    else:
                        fresh += lin.fresh_rollouts + b.fresh_rollouts + p.fresh_rollouts + pl.fresh_rollouts
                        for name, row in (("binary", b), ("linear", lin), ("plain_binary", p), ("plain_linear", pl)):
                            distinct[name] |= probed_prefixes(row)
                        records.append({
                            "plain_rollouts": p.rollouts, "plain_probes": p.probes, "plain_first_error": p.first_error,
                            "plain_linear_rollouts": pl.rollouts, "plain_linear_first_error": pl.first_error,
                            "plain_beyond_policy": pl.beyond_policy, "plain_linear_violation": pl.monotonic_violation,
                            "problem_id": problem.id, "sample_index": i, "lines": len(lin.lines),
                            "scored_lines": sum(v is not None for v in lin.labels) if lin.labeled else None,
                            "passed": lin.passed, "beyond_policy": lin.beyond_policy, "binary_beyond_policy": b.beyond_policy,
                            "binary_rollouts": b.rollouts, "binary_probes": b.probes, "binary_first_error": b.first_error,
                            "linear_rollouts": lin.rollouts, "linear_probes": lin.probes, "linear_first_error": lin.first_error,
                            "linear_violation": lin.monotonic_violation})
                    progress.advance(task)
    finally:
        if own_sandbox:
            sandbox.__exit__(None, None, None)
    report = summarize_records(records)
    # What each method would pay run alone with its own cache: one probe per distinct (problem, prefix);
    # the prefix f(0) and identical responses of a problem are then paid once.
    cost = {name: config.k * len(keys) for name, keys in distinct.items()}
    report["distinct_rollouts"] = cost
    report["distinct_binary_over_linear"] = _ratio(cost["binary"], cost["linear"])
    report["distinct_plain_binary_over_linear"] = _ratio(cost["plain_binary"], cost["plain_linear"])
    report.update({"config": config.model_dump(), "skipped_infra": skipped, "fresh_rollouts": fresh,
                   "sandbox_runs": judge.fresh_runs, "wall_s": round(time.perf_counter() - started, 1), "records": records})
    return report
