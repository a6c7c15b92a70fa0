"""The labeler interface, shared by the rollout labelers (``labelers.py``) and mutation labels
(``mutation.py``), which import it and never each other."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Sequence

from codeprm.errors import CodeprmError
from codeprm.labels.lines import split_lines
from codeprm.labels.probe import Judge, Prober, program_for
from codeprm.labels.rows import LineLabels
from codeprm.problems import Problem


class VerdictUnknown(Exception):
    """A verdict needed for this response stayed an infra error after one retry: the response is
    left unlabeled (and unstored, so a rerun tries it again)."""


class Labeler(ABC):
    method: ClassVar[str]

    def __init__(self, judge: Judge, prober: Prober | None = None, k: int = 1, policy: Any = None) -> None:
        if k < 1:
            raise CodeprmError(f"K must be at least 1, got {k}")
        self.judge = judge
        self.prober = prober
        self.k = k
        self.policy = policy if policy is not None else (prober.policy if prober else None)

    def policy_prompt(self, problem: Problem) -> str:
        return self.policy.prompt_for(problem) if self.policy is not None else problem.prompt

    def verdict(self, problem: Problem, completion: str):
        verdict = self.judge.verdicts(problem, [program_for(problem, completion)])[0]
        if verdict is None:
            raise VerdictUnknown(f"{problem.id}: the response's own verdict is an infra error")
        return verdict

    def base_row(self, problem: Problem, completion: str, sample_index: int = 0, truncated: bool = False) -> LineLabels:
        """The response judged, nothing labeled yet."""
        verdict = self.verdict(problem, completion)
        lines = split_lines(completion)
        return LineLabels(problem_id=problem.id, sample_index=sample_index, prompt=problem.prompt,
                          policy_prompt=self.policy_prompt(problem), completion=completion, lines=lines,
                          labels=[None] * len(lines), prefix_values=[None] * len(lines), passed=verdict.passed,
                          status=verdict.status, method=self.method, k=self.k, truncated=truncated)

    @abstractmethod
    def label(self, problem: Problem, completion: str, sample_index: int = 0, siblings: Sequence[str] = (),
              truncated: bool = False) -> LineLabels:
        """Labels for one response. ``siblings``: the other responses sampled for the problem (used
        only by labelers built with sibling evidence on). ``truncated``: the response was cut by the
        token budget, so its failure is not evidence against its last line."""

    def label_all(self, problem: Problem, completion: str, sample_index: int = 0, siblings: Sequence[str] = (),
                  truncated: bool = False) -> list[LineLabels]:
        """Every row one response yields (mutation adds its mutants)."""
        return [self.label(problem, completion, sample_index, siblings, truncated)]
