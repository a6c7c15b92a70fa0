"""``codeprm label``: sample responses from a policy, label every line, keep it all in a resumable store.

Rerunning the same command after an interruption (even ``kill -9``) continues where the job stopped:
responses are saved before labeling, each labeled response is one transaction, and every rollout and
verdict is cached by content, so finished work is never redone or stored twice.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from codeprm.config import StrictModel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from codeprm.errors import CodeprmError
from codeprm.labels.export import export
from codeprm.labels.base import Labeler, VerdictUnknown
from codeprm.labels.labelers import make_labeler
from codeprm.labels.probe import PROBE_VERSION, Judge, Prober, Sampling, clean_completion, derive_seed
from codeprm.labels.rows import LineLabels
from codeprm.labels.store import LabelStore, check_store, discard_store
from codeprm.problems import Problem, load_benchmark

STORE_NAME = "labels.sqlite"


class LabelConfig(StrictModel):
    """A labeling job: the one declaration of its fields (``codeprm label``, ``codeprm bench label`` and
    the pipeline's ``label`` section all build this model)."""

    policy: str = Field(default="embedded", description="policy spec that writes responses and rollouts: embedded, tiny, hf:PATH, openai:URL")
    benchmark: str = Field(default="synth:train", description="benchmark name, see load_benchmark")
    method: Literal["binary", "linear", "mc", "mutation"] = Field(default="binary", description="binary search (log L probes, the paper's), linear (every prefix, exact), mc (Math-Shepherd soft pass fractions), mutation (no policy rollouts)")
    rollouts: int = Field(default=4, ge=1, le=1024, description="K, rollouts per probed prefix; f(prefix) = 1 if any of the K passes")
    samples: int = Field(default=4, ge=1, le=1024, description="responses sampled per problem")
    limit: int | None = Field(default=None, ge=1, description="label only the first LIMIT problems (may grow on a rerun)")
    temperature: float = Field(default=0.8, ge=0.0, le=5.0, description="sampling temperature of responses and rollouts")
    top_p: float = Field(default=0.95, gt=0.0, le=1.0, description="nucleus sampling mass")
    max_new_tokens: int = Field(default=256, ge=1, le=32768, description="generation budget per response or rollout; a response cut by it is not blamed on its last line")
    seed: int = Field(default=0, description="base seed; per-prefix seeds are derived from it and the prefix text")
    mutants: int = Field(default=4, ge=0, le=256, description="mutation method: failing mutants kept per passing response")
    evidence: bool = Field(default=False, description="binary/linear: also count a prefix as completable when a passing sibling response runs through it (not the paper's definition; off by default)")
    resume: bool = Field(default=True, description="continue the store in --out; False discards it and starts over")
    threads: int = Field(default=1, ge=1, le=256, description="torch CPU threads for generation (with other jobs on the cores, one thread per process is several times faster than two)")

    def identity(self) -> dict:
        """What fixes the labels; a store made with different values cannot be continued."""
        skip = {"limit", "resume", "threads"}
        if self.method != "mutation":
            skip.add("mutants")
        if self.method in ("mutation", "mc"):
            skip.add("evidence")
        return {**self.model_dump(exclude=skip), "probe": PROBE_VERSION}


class LabelSummary(BaseModel):
    config: LabelConfig
    responses: int = Field(description="responses stored (labeled or not)")
    labeled: int = Field(description="responses with at least one labeled line")
    passed: int = Field(description="responses that pass all tests")
    rows: int = Field(description="exported rows (mutation adds one per failing mutant)")
    rollouts: int = Field(description="policy rollouts spent, cached ones counted as if fresh")
    fresh_rollouts: int = Field(description="policy rollouts actually generated")
    rollouts_per_labeled_response: float
    positive_fraction: float | None = Field(description="share of +1 among hard labels (mean value for mc)")
    monotonic_violations: int
    beyond_policy: int
    truncated: int = Field(default=0, description="responses cut by max_new_tokens (their last line is never blamed)")
    skipped_infra: int = Field(description="responses left unlabeled this run because of sandbox infra errors (rerun to retry)")


def summarize(rows: list[LineLabels], config: LabelConfig, skipped_infra: int = 0) -> LabelSummary:
    responses = [r for r in rows if r.variant == 0]
    values = [v for r in rows for v in r.labels if v is not None]
    if config.method == "mc":
        balance = sum(values) / len(values) if values else None
    else:
        balance = sum(v > 0 for v in values) / len(values) if values else None
    labeled = sum(r.labeled for r in responses)
    rollouts = sum(r.rollouts for r in rows)
    return LabelSummary(
        config=config, responses=len(responses), labeled=labeled, passed=sum(r.passed for r in responses),
        rows=len(rows), rollouts=rollouts, fresh_rollouts=sum(r.fresh_rollouts for r in rows),
        rollouts_per_labeled_response=rollouts / labeled if labeled else 0.0, positive_fraction=balance,
        monotonic_violations=sum(r.monotonic_violation for r in rows), beyond_policy=sum(r.beyond_policy for r in responses),
        truncated=sum(r.truncated for r in responses), skipped_infra=skipped_infra)


def sample_responses(policy: Any, problem: Problem, config: LabelConfig) -> list[tuple[str, bool]]:
    """S responses to label, cut where they stop continuing the function, each with whether the token
    budget cut it (finish_reason "length")."""
    seed = derive_seed(config.seed, "response", problem.id)
    completions = policy.complete([problem], n=config.samples, temperature=config.temperature, top_p=config.top_p,
                                  max_new_tokens=config.max_new_tokens, seed=seed)[0]
    return [(clean_completion(problem, c.text), c.finish_reason == "length") for c in completions]


def build_labeler(config: LabelConfig, policy: Any, judge: Judge, cache) -> Labeler:
    sampling = Sampling(k=config.rollouts, temperature=config.temperature, top_p=config.top_p,
                        max_new_tokens=config.max_new_tokens, seed=config.seed)
    prober = None if config.method == "mutation" else Prober(policy, config.policy, judge, cache, sampling)
    if config.method == "mutation":
        options = {"mutants": config.mutants, "seed": config.seed}
    else:
        options = {"evidence": config.evidence} if config.method != "mc" else {}
    return make_labeler(config.method, judge, prober, config.rollouts, policy=policy, **options)


def run_label_job(config: LabelConfig, out: str | Path, policy: Any = None, sandbox: Any = None,
                  show_progress: bool = True) -> LabelSummary:
    """Label ``config.samples`` responses per problem into ``out`` (resuming what is there)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise CodeprmError(f"--out {out} exists and is not a directory")
    problems = load_benchmark(config.benchmark)
    if config.limit:
        problems = problems[: config.limit]
    store_path = out / STORE_NAME
    if not config.resume:
        discard_store(store_path)
    check_store(store_path, config.identity())  # before the (slow) policy load, and before writing anything
    import torch

    torch.set_num_threads(config.threads)  # torch's default (every core) busy-waits against the sandbox and other jobs
    if policy is None:
        from codeprm.policy.registry import load_policy

        policy = load_policy(config.policy)

    with ExitStack() as stack:
        if sandbox is None:
            from codeprm.sandbox import Sandbox

            sandbox = stack.enter_context(Sandbox())
        store = stack.enter_context(LabelStore(store_path, config.identity()))
        (out / "config.json").write_text(json.dumps(config.model_dump(), indent=2) + "\n", encoding="utf-8")
        judge = Judge(sandbox, store.cache)
        labeler = build_labeler(config, policy, judge, store.cache)
        done = store.done()
        skipped = 0
        columns = [TextColumn("[bold]label[/bold] {task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), TimeRemainingColumn()]
        with Progress(*columns, disable=not show_progress) as progress:
            task = progress.add_task(config.method, total=len(problems) * config.samples)
            for problem in problems:
                todo = [i for i in range(config.samples) if (problem.id, i) not in done]
                progress.advance(task, config.samples - len(todo))
                if not todo:
                    continue
                responses = store.responses(problem.id)
                if responses is None:
                    responses = sample_responses(policy, problem, config)
                    store.put_responses(problem.id, responses)
                texts = [text for text, _ in responses]
                for i in todo:
                    try:
                        rows = labeler.label_all(problem, responses[i][0], sample_index=i, siblings=texts, truncated=responses[i][1])
                    except VerdictUnknown:
                        skipped += 1  # not stored: a rerun retries it
                    else:
                        store.put(problem.id, i, rows)
                    progress.advance(task)
        rows = list(store.rows())
        export(rows, out)
    return summarize(rows, config, skipped_infra=skipped)
