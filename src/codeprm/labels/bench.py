"""``codeprm bench label``: binary search against the linear scan, and every method against injected bugs.

1. **Cost and agreement.** On the held-out synth suite and on the long suite (16-40-line programs), each
   sampled response is labeled by ``linear`` (the baseline: every prefix probed) and ``binary``, under
   the paper's definition (f = 1 iff one of K rollouts passes) and again with sibling evidence (keys
   ``evidence_*``). All share one rollout/verdict cache and per-prefix seeds, so they see identical
   f values and differ only in which prefixes they probe; rollouts are counted as if uncached (K per
   probed prefix), the cost each method would pay alone. The linear scan probes both sides of every
   boundary, so its monotonicity violations are the honest count.
2. **Ground truth.** For generated problems with a correct reference, one mutation operator breaks one
   line (a mutant that fails the tests): the first line after which no program can pass is that line.
   Each method labels the mutant, and its first error is compared with the bug line (exact, and within
   one scored line); binary search is run at several K to show the K it needs.
"""

from __future__ import annotations

import math
import random
import time
from pathlib import Path
from typing import Any

from pydantic import Field
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from codeprm.labels.base import VerdictUnknown
from codeprm.labels.cache import ProbeCache, content_key, open_db
from codeprm.labels.job import LabelConfig, sample_responses
from codeprm.labels.labelers import BinaryLabeler, LinearLabeler, MCLabeler
from codeprm.labels.lines import is_neutral, prefix_text, scored_indices, split_lines
from codeprm.labels.mutation import completion_mutants
from codeprm.labels.probe import Judge, Prober, Sampling, derive_seed
from codeprm.labels.rows import LineLabels
from codeprm.problems import Problem, load_benchmark

LENGTH_BUCKETS = [(0, 3), (4, 7), (8, 15), (16, 31), (32, 10**9)]
METHODS = ("binary", "linear", "evidence_binary", "evidence_linear")


class LabelBenchConfig(LabelConfig):
    """The label job's fields (policy, rollouts, samples, sampling) plus what the benchmark adds."""

    benchmark: str = Field(default="synth:heldout", description="suite whose sampled responses are labeled")
    limit: int | None = Field(default=30, ge=1, description="first LIMIT problems of it (None: all)")
    long_benchmark: str | None = Field(default="synth:long", description="suite of long programs (16-40 lines); None or 'none' skips it")
    long_limit: int = Field(default=10, ge=1, description="first LIMIT problems of the long suite")
    injected_limit: int = Field(default=20, ge=0, description="problems per suite whose reference gets one injected bug (0 skips)")
    injected_rollouts: list[int] = Field(default=[1, 2, 4, 8], description="the K values binary search is run at on injected bugs")


def probe_bound(n_lines: int) -> int:
    """The goal's cap on binary probes for a failing response of L lines: ceil(log2 L) + 2."""
    return math.ceil(math.log2(max(n_lines, 1))) + 2


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def _share(xs: list[bool]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def probed_prefixes(row: LineLabels) -> set[tuple[str, str]]:
    """(problem id, prefix text) of every prefix a labeled row probed."""
    keys = {(row.problem_id, "")} if row.empty_prefix_value is not None else set()
    keys |= {(row.problem_id, prefix_text(row.lines, i + 1)) for i, v in enumerate(row.prefix_values) if v is not None}
    return keys


def _first_scored(row: LineLabels) -> bool:
    scored = scored_indices(row.lines)
    return bool(scored) and row.first_error == scored[0]


def record(suite: str, problem_id: str, i: int, rows: dict[str, LineLabels]) -> dict:
    lin = rows["linear"]
    rec = {"suite": suite, "problem_id": problem_id, "sample_index": i, "lines": len(lin.lines),
           "scored_lines": len(scored_indices(lin.lines)), "passed": lin.passed, "truncated": lin.truncated}
    for name, row in rows.items():
        rec.update({f"{name}_rollouts": row.rollouts, f"{name}_probes": row.probes, f"{name}_first_error": row.first_error,
                    f"{name}_beyond_policy": row.beyond_policy, f"{name}_violation": row.monotonic_violation,
                    f"{name}_first_line": _first_scored(row)})
    return rec


def totals(rs: list[dict], prefix: str = "") -> dict:
    """Cost and agreement of ``{prefix}binary`` vs ``{prefix}linear`` over records (pure, for testing)."""
    b, lin = f"{prefix}binary", f"{prefix}linear"
    searched = [r for r in rs if not r["passed"] and not r[f"{lin}_beyond_policy"]]
    blamed = [r for r in searched if r[f"{b}_first_error"] is not None]
    failing = [r for r in rs if not r["passed"]]
    cost_b, cost_l = sum(r[f"{b}_rollouts"] for r in rs), sum(r[f"{lin}_rollouts"] for r in rs)
    return {
        "responses": len(rs), "failing": len(failing), "searched": len(searched),
        "binary_rollouts_per_response": cost_b / len(rs) if rs else None,
        "linear_rollouts_per_response": cost_l / len(rs) if rs else None,
        "binary_over_linear": _ratio(cost_b, cost_l),
        "searched_binary_over_linear": _ratio(sum(r[f"{b}_rollouts"] for r in searched), sum(r[f"{lin}_rollouts"] for r in searched)),
        "first_error_agreement": _share([r[f"{b}_first_error"] == r[f"{lin}_first_error"] for r in searched]),
        "first_line_share": _share([r[f"{b}_first_line"] for r in blamed]),
        "binary_probes_max": max((r[f"{b}_probes"] for r in failing), default=None),
        "probe_bound_exceeded": sum(r[f"{b}_probes"] > probe_bound(r["scored_lines"]) for r in failing),
        "monotonic_violations": sum(r[f"{lin}_violation"] for r in rs),
        "beyond_policy": sum(r[f"{lin}_beyond_policy"] for r in failing),
        "undetermined_truncated": sum(r["truncated"] and not r["passed"] and r[f"{lin}_first_error"] is None
                                      and not r[f"{lin}_beyond_policy"] for r in rs),
    }


def summarize_records(records: list[dict], main_suite: str = "heldout") -> dict:
    """The benchmark's headline numbers: the main suite under the paper's definition, responses of 16+
    lines from every suite, the long suite alone, and the same with sibling evidence."""
    main = [r for r in records if r["suite"] == main_suite]
    long = [r for r in records if r["lines"] >= 16]
    out = {**totals(main), "passed": sum(r["passed"] for r in main)}
    lt = totals(long)
    out.update({"long_binary_over_linear": lt["binary_over_linear"], "long_searched_binary_over_linear": lt["searched_binary_over_linear"],
                "long_first_error_agreement": lt["first_error_agreement"], "long_responses": len(long), "long_searched": lt["searched"]})
    out["by_suite"] = {s: totals([r for r in records if r["suite"] == s]) for s in sorted({r["suite"] for r in records})}
    out["evidence"] = {"main": totals(main, "evidence_"), "long": totals(long, "evidence_")}
    out["by_length"] = []
    for lo, hi in LENGTH_BUCKETS:
        rs = [r for r in records if lo <= r["lines"] <= hi]
        if rs:
            out["by_length"].append({"lines": f"{lo}-{hi}" if hi < 10**9 else f"{lo}+", **totals(rs)})
    return out


def injected_bug(problem: Problem, seed: int, judge: Judge) -> tuple[str, int, str] | None:
    """One failing single-line mutant of the reference: (completion, bug line, operator), or None."""
    if problem.reference is None:
        return None
    candidates = [m for m in completion_mutants(problem, problem.reference, seed) if not is_neutral(split_lines(m[0])[m[1]])]
    random.Random(derive_seed(seed, "injected", problem.id)).shuffle(candidates)
    for mutated, line, kind in candidates[:8]:
        verdict = judge.verdicts(problem, [problem.program(mutated)])[0]
        if verdict is not None and not verdict.passed:
            return mutated, line, kind
    return None


def _accuracy(rows: list[tuple[LineLabels, int]]) -> dict:
    """Exact and within-one-scored-line accuracy of first errors against the injected lines."""
    labeled = [(r, t) for r, t in rows if r.first_error is not None]
    exact, near = [], []
    for r, truth in rows:
        scored = scored_indices(r.lines)
        if r.first_error is None:
            exact.append(False)
            near.append(False)
            continue
        exact.append(r.first_error == truth)
        near.append(abs(scored.index(r.first_error) - scored.index(truth)) <= 1)
    hit = [e for e, (r, _) in zip(exact, rows) if r.first_error is not None]
    near_hit = [e for e, (r, _) in zip(near, rows) if r.first_error is not None]
    return {"mutants": len(rows), "labeled": len(labeled), "exact": _share(exact), "within_one": _share(near),
            "exact_of_labeled": _share(hit), "within_one_of_labeled": _share(near_hit),
            "beyond_policy": sum(r.beyond_policy for r, _ in rows),
            "rollouts_per_mutant": sum(r.rollouts for r, _ in rows) / len(rows) if rows else None}


def _load(name: str | None, limit: int | None) -> list[Problem]:
    if not name or name == "none":
        return []
    problems = load_benchmark(name)
    return problems[:limit] if limit else problems


def run_label_bench(config: LabelBenchConfig, policy: Any = None, sandbox: Any = None, cache_path: Path | None = None,
                    show_progress: bool = True) -> dict:
    suites = {"heldout": _load(config.benchmark, config.limit), "long": _load(config.long_benchmark, config.long_limit)}
    import torch

    torch.set_num_threads(config.threads)
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

    def prober(k: int) -> Prober:
        return Prober(policy, config.policy, judge, cache, Sampling(k=k, temperature=config.temperature, top_p=config.top_p,
                                                                     max_new_tokens=config.max_new_tokens, seed=config.seed))

    main = prober(config.rollouts)
    labelers = {"binary": BinaryLabeler(judge, main), "linear": LinearLabeler(judge, main),
                "evidence_binary": BinaryLabeler(judge, main, evidence=True), "evidence_linear": LinearLabeler(judge, main, evidence=True)}
    records, skipped = [], 0
    distinct: dict[str, set] = {name: set() for name in METHODS}
    siblings: dict[str, list[str]] = {}
    injected = {name: [] for name in ["linear", "mc", "evidence_binary", "mutation", *(f"binary_k{k}" for k in config.injected_rollouts)]}
    injected_skipped = 0
    n_injected = sum(min(config.injected_limit, len(ps)) for ps in suites.values())
    columns = [TextColumn("[bold]bench label[/bold] {task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    try:
        with Progress(*columns, disable=not show_progress) as progress:
            task = progress.add_task("responses", total=sum(len(ps) for ps in suites.values()) * config.samples + n_injected)
            for suite, problems in suites.items():
                for problem in problems:
                    job = LabelConfig(**{k: getattr(config, k) for k in LabelConfig.model_fields})  # the bench's own fields aside
                    key = content_key("responses", config.policy, policy.prompt_for(problem), job.identity())
                    responses = cache.get_rollouts(key)  # the cache file makes an interrupted bench cheap to rerun
                    if responses is None:
                        responses = [list(r) for r in sample_responses(policy, problem, config)]
                        cache.put_rollouts(key, responses)
                    texts = [text for text, _ in responses]
                    siblings[problem.id] = texts
                    for i, (completion, truncated) in enumerate(responses):
                        try:
                            rows = {name: lab.label(problem, completion, i, siblings=texts, truncated=truncated)
                                    for name, lab in labelers.items()}
                        except VerdictUnknown:
                            skipped += 1
                        else:
                            for name, row in rows.items():
                                distinct[name] |= probed_prefixes(row)
                            records.append(record(suite, problem.id, i, rows))
                        progress.advance(task)
            progress.update(task, description="injected bugs")
            for suite, problems in suites.items():
                for problem in problems[: config.injected_limit]:
                    progress.advance(task)
                    bug = injected_bug(problem, config.seed, judge)
                    if bug is None:
                        injected_skipped += 1
                        continue
                    mutated, line, kind = bug
                    sib = siblings.get(problem.id, [])
                    try:
                        rows = {f"binary_k{k}": BinaryLabeler(judge, prober(k)).label(problem, mutated) for k in config.injected_rollouts}
                        rows["linear"] = labelers["linear"].label(problem, mutated)
                        rows["mc"] = MCLabeler(judge, main).label(problem, mutated)
                        rows["evidence_binary"] = labelers["evidence_binary"].label(problem, mutated, siblings=sib)
                    except VerdictUnknown:
                        injected_skipped += 1
                        continue
                    mutation_row = rows["linear"].model_copy(update={"first_error": line, "beyond_policy": False, "rollouts": 0})
                    rows["mutation"] = mutation_row  # PRLCoder's label of its own mutant: the changed line, by construction
                    for name, row in rows.items():
                        injected[name].append((row, line))
    finally:
        if own_sandbox:
            sandbox.__exit__(None, None, None)
    report = summarize_records(records)
    cost = {name: config.rollouts * len(keys) for name, keys in distinct.items()}
    report["distinct_rollouts"] = cost
    report["distinct_binary_over_linear"] = _ratio(cost["binary"], cost["linear"])
    acc = {name: _accuracy(rows) for name, rows in injected.items()}
    k_main = f"binary_k{max([k for k in config.injected_rollouts if k <= 8] or config.injected_rollouts)}"  # the goal: K <= 8
    report["injected"] = acc
    # Accuracy of the labels binary search gives (mutants it labeled); unlabeled ones (f(0) = 0: the policy
    # cannot solve the problem from scratch, so the paper's definition says nothing) are counted apart.
    report["injected_exact_accuracy"] = acc[k_main]["exact_of_labeled"]
    report["injected_within_one_accuracy"] = acc[k_main]["within_one_of_labeled"]
    report["injected_labeled_share"] = _share([r.first_error is not None for r, _ in injected[k_main]])
    report["injected_exact_accuracy_all_mutants"] = acc[k_main]["exact"]
    report["injected_rollouts_k"] = int(k_main.removeprefix("binary_k"))
    report["injected_k_needed"] = next((k for k in sorted(config.injected_rollouts)
                                        if (acc[f"binary_k{k}"]["exact_of_labeled"] or 0) >= 0.70), None)
    report["injected_skipped"] = injected_skipped
    report.update({"config": config.model_dump(), "skipped_infra": skipped, "sandbox_runs": judge.fresh_runs,
                   "wall_s": round(time.perf_counter() - started, 1), "records": records})
    return report
