"""``codeprm eval``: sample from a policy, run every sample in the sandbox, report pass@k.

Rows go to ``OUT/samples.jsonl`` as they are judged, so an interrupted run resumes where it stopped:
rerunning the same command skips every (problem, sample) already on disk.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Iterator, Sequence

from pydantic import BaseModel, Field, field_validator
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from codeprm.config import StrictModel
from codeprm.errors import CodeprmError
from codeprm.evaluate.passk import pass_at_k
from codeprm.problems import Problem, load_benchmark
from codeprm.programs import program_text


class EvalConfig(StrictModel):
    policy: str = Field(default="embedded", description="policy spec: embedded, tiny, hf:PATH, openai:URL, reference")
    benchmark: str = Field(default="humaneval", description="benchmark name, see load_benchmark")
    samples: int = Field(default=1, ge=1, le=1000, description="samples per problem")
    k: list[int] = Field(default=[1], description="k values of pass@k (each <= n)")
    limit: int | None = Field(default=None, ge=1, description="evaluate only the first LIMIT problems")
    temperature: float = Field(default=0.0, ge=0.0, le=5.0, description="0 = greedy")
    top_p: float = Field(default=1.0, gt=0.0, le=1.0, description="nucleus sampling mass")
    max_new_tokens: int = Field(default=384, ge=1, le=32768, description="generation budget per sample")
    seed: int = Field(default=0, description="sampling seed")
    batch_size: int = Field(default=8, ge=1, description="problems per generation call")
    threads: int | None = Field(default=None, ge=1, le=256, description="torch CPU threads for generation; None = torch's default (every core: fastest alone, several times slower beside other jobs)")

    @field_validator("k")
    @classmethod
    def _positive(cls, ks: list[int]) -> list[int]:
        if not ks or any(k < 1 for k in ks):
            raise ValueError("k values must be >= 1")
        return sorted(set(ks))

    def identity(self) -> dict:
        """Fields that change what a sample is; a stored run with other values cannot be resumed."""
        return self.model_dump(include={"policy", "benchmark", "temperature", "top_p", "max_new_tokens", "seed"})


def _read_done(path: Path) -> dict[tuple[str, int], dict]:
    done: dict[tuple[str, int], dict] = {}
    if not path.exists():
        return done
    lines = path.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            if i == len(lines) - 1:  # a row cut short by a crash: redo that sample
                break
            raise CodeprmError(f"{path}:{i + 1}: corrupt row; move the file away to start over") from None
        done[(row["problem_id"], row["sample_index"])] = row
    # Rewrite without a torn tail so appends start on a fresh line.
    path.write_text("".join(json.dumps(r) + "\n" for r in done.values()), encoding="utf-8")
    return done


def _chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class EvalSummary(BaseModel):
    config: EvalConfig
    problems: int
    samples: int
    pass_at_k: dict[str, float]
    statuses: dict[str, int]
    per_problem: dict[str, list[int]] = Field(description="problem id -> [samples, passed]")


def evaluate(config: EvalConfig, out: Path | None = None, policy=None, sandbox=None, show_progress: bool = True,
             resume: bool = True) -> EvalSummary:
    """Run the evaluation described by ``config``; rows and the summary go to ``out`` when given, and a
    rerun resumes from them (``resume=False`` discards them first)."""
    if max(config.k) > config.samples:
        raise CodeprmError(f"k={max(config.k)} exceeds the samples per problem (samples={config.samples})")
    problems = load_benchmark(config.benchmark)
    if config.limit:
        problems = problems[: config.limit]

    rows_path = None
    done: dict[tuple[str, int], dict] = {}
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        if not resume:
            for name in ("config.json", "samples.jsonl", "summary.json"):
                (out / name).unlink(missing_ok=True)
        cfg_path = out / "config.json"
        if cfg_path.exists():
            stored = json.loads(cfg_path.read_text())
            if {k: stored.get(k) for k in config.identity()} != config.identity():
                raise CodeprmError(f"{out} holds a run with another configuration ({cfg_path}); choose another --out")
        cfg_path.write_text(config.model_dump_json(indent=2))
        rows_path = out / "samples.jsonl"
        done = _read_done(rows_path)

    todo = [p for p in problems if any((p.id, i) not in done for i in range(config.samples))]
    if todo:
        if config.threads:
            import torch

            torch.set_num_threads(config.threads)
        if policy is None:
            from codeprm.policy.registry import load_policy

            policy = load_policy(config.policy)
        own_sandbox = sandbox is None
        if own_sandbox:
            from codeprm.sandbox import Sandbox

            sandbox = Sandbox()
            sandbox.__enter__()
        try:
            _run(config, todo, done, policy, sandbox, rows_path, show_progress)
        finally:
            if own_sandbox:
                sandbox.__exit__(None, None, None)

    summary = summarise(config, problems, done)
    if out is not None:
        (out / "summary.json").write_text(summary.model_dump_json(indent=2))
    return summary


def _run(config, todo, done, policy, sandbox, rows_path, show_progress) -> None:
    columns = (TextColumn("[bold]eval[/bold] {task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=not show_progress) as progress:
        task = progress.add_task(config.benchmark, total=len(todo) * config.samples)
        for chunk_index, chunk in enumerate(_chunks(todo, config.batch_size)):
            completions = policy.complete(
                list(chunk),
                n=config.samples,
                temperature=config.temperature,
                top_p=config.top_p,
                max_new_tokens=config.max_new_tokens,
                seed=config.seed + chunk_index,
            )
            jobs = []
            for problem, samples in zip(chunk, completions):
                for i, completion in enumerate(samples):
                    if (problem.id, i) in done:
                        continue
                    jobs.append((problem, i, completion.text, program_text(problem, completion.text)))
            results = sandbox.run_many([(program, problem) for problem, _, _, program in jobs])
            with (rows_path.open("a", encoding="utf-8") if rows_path else _NullFile()) as fh:
                for (problem, i, text, program), result in zip(jobs, results):
                    row = {
                        "problem_id": problem.id,
                        "sample_index": i,
                        "completion": text,
                        "program": program,
                        "passed": result.passed,
                        "pass_rate": result.pass_rate,
                        "status": result.status,
                        "error_line": result.error_line,
                        "tests": [t.model_dump() for t in result.tests],
                    }
                    done[(problem.id, i)] = row
                    fh.write(json.dumps(row) + "\n")
                    fh.flush()
                    progress.advance(task)


class _NullFile:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def write(self, _):
        pass

    def flush(self):
        pass


def summarise(config: EvalConfig, problems: list[Problem], done: dict[tuple[str, int], dict]) -> EvalSummary:
    per_problem: dict[str, list[int]] = {}
    statuses: Counter[str] = Counter()
    for p in problems:
        rows = [done[(p.id, i)] for i in range(config.samples) if (p.id, i) in done]
        statuses.update(r["status"] for r in rows)
        # An infra_error says nothing about the program: mask it out of pass@k rather than score it 0.
        judged = [r for r in rows if r["status"] != "infra_error"]
        per_problem[p.id] = [len(judged), sum(r["passed"] for r in judged)]
    scores = {}
    for k in config.k:
        vals = [pass_at_k(n, c, k) for n, c in per_problem.values() if n >= k]
        scores[f"pass@{k}"] = sum(vals) / len(vals) if vals else 0.0
    return EvalSummary(
        config=config,
        problems=len(problems),
        samples=sum(n for n, _ in per_problem.values()),
        pass_at_k=scores,
        statuses=dict(statuses),
        per_problem=per_problem,
    )
