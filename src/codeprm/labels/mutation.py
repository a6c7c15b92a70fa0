"""Mutation labels (PRLCoder): no policy needed. A passing program is labeled +1 everywhere; each
mutant that changes one line and fails the tests is a labeled negative: +1 before the changed line,
-1 from it on."""

from __future__ import annotations

import random
from typing import Any, Sequence

from codeprm.labels.lines import is_neutral, scored_indices, split_lines
from codeprm.labels.base import Labeler, VerdictUnknown
from codeprm.labels.probe import Judge, derive_seed
from codeprm.labels.rows import LineLabels
from codeprm.problems import Problem
from codeprm.problems.mutate import mutants


def completion_mutants(problem: Problem, completion: str, seed: int = 0) -> list[tuple[str, int, str]]:
    """``(mutated completion, changed 0-based completion line, operator)`` for every one-line mutant
    that ``codeprm.problems.mutate`` makes inside the completion (the prompt is left alone)."""
    program = problem.program(completion)
    head = program[: len(program) - len(completion)] if program.endswith(completion) else None
    if head is None or (head and not head.endswith("\n")):
        return []  # the completion does not start on its own line of the program: lines do not map
    offset = head.count("\n")
    out = []
    for m in mutants(program, lines=range(offset, len(program.splitlines())), seed=seed):
        if m.line_index < offset or not m.program.startswith(head):
            continue  # a change in the prompt is not the response's error
        out.append((m.program[len(head):], m.line_index - offset, f"{m.kind}: {m.detail}"))
    return out


class MutationLabeler(Labeler):
    method = "mutation"

    def __init__(self, judge: Judge, k: int = 1, policy: Any = None, mutants: int = 4, seed: int = 0) -> None:
        super().__init__(judge, None, k=k, policy=policy)
        self.mutants = mutants
        self.seed = seed

    def label(self, problem: Problem, completion: str, sample_index: int = 0, siblings: Sequence[str] = (),
              truncated: bool = False) -> LineLabels:
        """The response itself: +1 on every scored line if it passes, nothing if it fails."""
        row = self.base_row(problem, completion, sample_index, truncated)
        if row.passed:
            for i in scored_indices(row.lines):
                row.labels[i] = 1.0
        return row

    def label_all(self, problem: Problem, completion: str, sample_index: int = 0, siblings: Sequence[str] = (),
                  truncated: bool = False) -> list[LineLabels]:
        row = self.label(problem, completion, sample_index, truncated=truncated)
        if not row.passed:
            return [row]
        candidates = [m for m in completion_mutants(problem, completion, self.seed) if not is_neutral(split_lines(m[0])[m[1]])]
        # A fixed per-response shuffle picks which mutants to keep, so a resumed run keeps the same ones.
        random.Random(derive_seed(self.seed, "mutation", problem.id, completion)).shuffle(candidates)
        rows = [row]
        for mutated, line, kind in candidates:
            if len(rows) > self.mutants:
                break
            try:
                mutant = self.base_row(problem, mutated, sample_index)
            except VerdictUnknown:
                continue  # the sandbox could not judge this mutant; others may do
            if mutant.passed:
                continue  # an equivalent mutant teaches nothing about errors
            mutant.variant = len(rows)
            mutant.mutation = kind
            mutant.first_error = line
            for i in scored_indices(mutant.lines):
                mutant.labels[i] = 1.0 if i < line else -1.0
            rows.append(mutant)
        return rows
