"""Exact first-error labels for problems with a reference: no policy rollouts, only sandbox runs.

A prefix of a completion is *on track* when the reference's own remaining lines complete it into a
program that passes the tests. The first wrong line is the first scored line whose prefix (through that
line) is not on track. With the reference's body as the only continuation tried, this is exact for the
errors a one-line edit makes (what the generated suites' policies make) and a lower bound on
"completable" in general: a prefix a different continuation could rescue may read as off track.

Alignment: a prefix holding ``s`` scored lines is completed with the reference body from its line ``s``
on. Shifted alignments were tried and dropped: completing with the body from line ``s - 1`` re-runs the
reference's version of the prefix's last line, which undoes a wrong line that only assigned (``ch = ""``
for ``out = ""``) and reads it as on track. The search is binary over the scored lines (the empty prefix is on
track: the reference passes), batched over all completions, one sandbox batch per round.

This is the positive control of the RL experiment (docs/experiments/rl_mechanism): line rewards from
these labels test whether dense line rewards help at all, apart from how good a learned PRM is.
"""

from __future__ import annotations

from typing import Callable, Sequence

from codeprm.lines import scored_indices, split_lines
from codeprm.problems import Problem
from codeprm.programs import program_text

# (problems, programs) -> per program: passed every test (None = not judged, an infra error)
RunPrograms = Callable[[Sequence[Problem], Sequence[str]], list[bool | None]]

ALIGN_SHIFTS = (0,)


def probe_completions(problem: Problem, completion: str, scored_through: int) -> list[str]:
    """The completions that test whether the prefix through ``scored_through`` scored lines is on track."""
    lines = split_lines(completion)
    scored = scored_indices(lines)
    cut = scored[scored_through - 1] + 1 if scored_through else (scored[0] if scored else len(lines))
    prefix = "\n".join(lines[:cut])
    body = problem.reference.splitlines()
    out = []
    for shift in ALIGN_SHIFTS:
        j = scored_through + shift
        if 0 <= j <= len(body):
            rest = "\n".join(body[j:])
            out.append(prefix + ("\n" if prefix and rest else "") + rest + "\n")
    return out


def exact_first_errors(problems: Sequence[Problem], completions: Sequence[str], run: RunPrograms) -> list[int | None]:
    """Per completion, the 0-based physical line index of its first wrong line; None when the reference
    completes every prefix (the completion is on track throughout: it passes, or it stopped too early),
    when the problem has no reference, or when a probe could not be judged."""
    state = {}  # index -> (lo, hi): scored prefix lo is on track, hi is not
    answers: list[int | None] = [None] * len(completions)
    first_round = []
    for i, (p, c) in enumerate(zip(problems, completions)):
        n_scored = len(scored_indices(split_lines(c)))
        if p.reference is None or p.style != "completion" or n_scored == 0:
            continue
        state[i] = (0, n_scored)
        first_round.append(i)
    # round 0 checks that the whole completion is off track (a failing run can still be on track: it ended early)
    pending = {i: state[i][1] for i in first_round}
    broken: set[int] = set()
    while pending:
        jobs = [(i, s, text) for i, s in pending.items() for text in probe_completions(problems[i], completions[i], s)]
        verdicts = run([problems[i] for i, _, _ in jobs], [program_text(problems[i], t) for i, _, t in jobs])
        on_track: dict[int, bool] = {}
        for (i, _, _), v in zip(jobs, verdicts):
            if v is None:
                broken.add(i)
            on_track[i] = on_track.get(i, False) or bool(v)
        nxt = {}
        for i, s in pending.items():
            if i in broken:
                state.pop(i, None)
                continue
            lo, hi = state[i]
            if s == hi and on_track.get(i, False):  # the whole completion is on track: no wrong line to name
                state.pop(i)
                continue
            if s != hi:
                lo, hi = (s, hi) if on_track.get(i, False) else (lo, s)
                state[i] = (lo, hi)
            if hi - lo > 1:
                nxt[i] = (lo + hi) // 2
        pending = nxt
    for i, (lo, hi) in state.items():
        answers[i] = scored_indices(split_lines(completions[i]))[hi - 1]
    return answers


def agreement(rows, problems: Sequence[Problem], run: RunPrograms) -> dict:
    """How often the search's first wrong line (``LineLabels`` rows) is the exact one, on the failing
    responses the search labelled (not beyond the policy, not truncated); and what the labels cost."""
    by_id = {p.id: p for p in problems}
    rows = [r for r in rows if not r.passed and r.first_error is not None and not r.beyond_policy and not r.truncated and r.problem_id in by_id]
    exact = exact_first_errors([by_id[r.problem_id] for r in rows], [r.completion for r in rows], run)
    pairs = [(r.first_error, e) for r, e in zip(rows, exact) if e is not None]
    same = sum(a == b for a, b in pairs)
    return {"label_exact_agreement": same / len(pairs) if pairs else None, "compared": len(pairs),
            "search_earlier": sum(a < b for a, b in pairs), "search_later": sum(a > b for a, b in pairs),
            "exact_unlabelable": len(rows) - len(pairs),
            "rollouts_per_labelled_response": sum(r.rollouts for r in rows) / len(rows) if rows else None}


def main(argv: list[str] | None = None) -> dict:
    """``python -m codeprm.labels.exact --labels DIR --benchmark SPEC --json OUT``: search labels vs exact."""
    import argparse
    import json
    from pathlib import Path

    from codeprm.labels.rows import LineLabels
    from codeprm.problems import load_benchmark
    from codeprm.sandbox import Sandbox

    ap = argparse.ArgumentParser(description="agreement of a label store's first wrong lines with the exact ones")
    ap.add_argument("--labels", type=Path, required=True, help="a `codeprm label` output directory (labels.jsonl)")
    ap.add_argument("--benchmark", "-b", required=True, help="the problems it labelled (they need references)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    rows = [LineLabels.model_validate_json(line) for line in (args.labels / "labels.jsonl").read_text().splitlines() if line.strip()]
    sandbox = Sandbox()
    try:
        run = lambda ps, progs: [None if r.infra_error else r.passed  # noqa: E731
                                 for r in sandbox.run_many(list(zip(progs, ps)), stop_at_first_failure=True)]
        out = agreement(rows, load_benchmark(args.benchmark), run)
    finally:
        sandbox.close()
    out |= {"labels": str(args.labels), "benchmark": args.benchmark, "k": rows[0].k if rows else None, "method": rows[0].method if rows else None}
    print(json.dumps(out, indent=2))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    main()
