"""Labelers: one interface, ``label(problem, completion) -> LineLabels``, one label per physical line.

``binary`` and ``linear`` give hard labels from the first-error search (``search.py``) over policy
rollouts; ``mc`` gives Math-Shepherd soft labels (pass fractions); ``mutation`` needs no policy
(``mutation.py``). Blank and comment-only lines stay neutral (None) and are never the boundary.
"""

from __future__ import annotations

import bisect
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Sequence

from codeprm.errors import CodeprmError
from codeprm.labels.lines import prefix_text, scored_indices, split_lines
from codeprm.labels.probe import Judge, ProbeOutcome, Prober, judged_text, program_for
from codeprm.labels.rows import LineLabels
from codeprm.labels.search import SearchResult, binary_first_error, linear_first_error, mc_values
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

    def base_row(self, problem: Problem, completion: str, sample_index: int = 0) -> LineLabels:
        """The response judged, nothing labeled yet."""
        verdict = self.verdict(problem, completion)
        lines = split_lines(completion)
        return LineLabels(problem_id=problem.id, sample_index=sample_index, prompt=problem.prompt,
                          policy_prompt=self.policy_prompt(problem), completion=completion, lines=lines,
                          labels=[None] * len(lines), prefix_values=[None] * len(lines), passed=verdict.passed,
                          status=verdict.status, method=self.method, k=self.k)

    @abstractmethod
    def label(self, problem: Problem, completion: str, sample_index: int = 0, siblings: Sequence[str] = ()) -> LineLabels:
        """Labels for one response. ``siblings``: the other responses sampled for the problem (the
        binary search takes a passing one as free evidence that prefixes it shares can be completed)."""

    def label_all(self, problem: Problem, completion: str, sample_index: int = 0, siblings: Sequence[str] = ()) -> list[LineLabels]:
        """Every row one response yields (mutation adds its mutants)."""
        return [self.label(problem, completion, sample_index, siblings)]


def shared_lines(a: list[str], b: list[str]) -> int:
    """How many leading lines two texts have in common."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


class Evidence:
    """Passing programs seen so far, as the largest search step whose prefix one of them extends: a
    program that passes and starts with the response's first r lines shows that every prefix within
    those r lines can still be completed, with no probe spent on it."""

    def __init__(self, problem: Problem, lines: list[str], scored: list[int]) -> None:
        self.problem, self.lines, self.scored = problem, lines, scored
        self.step = -1

    def add(self, passing_completion: str, keep: str = "") -> None:
        shared = shared_lines(split_lines(judged_text(self.problem, passing_completion, keep)), self.lines)
        self.step = max(self.step, bisect.bisect_left(self.scored, shared))  # scored lines inside the shared part

    def __call__(self) -> int:
        return self.step


class _RolloutLabeler(Labeler):
    """Shared plumbing of the rollout methods: step j of the search is the prefix that ends after the
    j-th scored line; every probe is K rollouts from that prefix."""

    def __init__(self, judge: Judge, prober: Prober) -> None:
        super().__init__(judge, prober, k=prober.sampling.k)

    def _oracle(self, problem: Problem, lines: list[str], scored: list[int], row: LineLabels, soft: bool,
                evidence: Evidence | None = None):
        def f(j: int) -> float:
            m = 0 if j == 0 else scored[j - 1] + 1
            prefix = prefix_text(lines, m)
            outcome: ProbeOutcome = self.prober.probe(problem, prefix)
            row.rollouts += outcome.k
            row.fresh_rollouts += outcome.fresh_rollouts
            if outcome.unknown:
                raise VerdictUnknown(f"{problem.id}: probe of a {m}-line prefix has only infra-error verdicts")
            if evidence is not None:
                for completion in outcome.passing:
                    evidence.add(completion, keep=prefix)
            return outcome.fraction if soft else float(outcome.passes > 0)

        return f

    @staticmethod
    def _apply(row: LineLabels, scored: list[int], result: SearchResult) -> None:
        row.probes = result.probes
        row.beyond_policy = result.beyond_policy
        row.monotonic_violation = result.monotonic_violation
        row.empty_prefix_value = result.values.get(0)
        for j, value in result.values.items():
            if j >= 1:
                row.prefix_values[scored[j - 1]] = value

    def label(self, problem: Problem, completion: str, sample_index: int = 0, siblings: Sequence[str] = ()) -> LineLabels:
        row = self.base_row(problem, completion, sample_index)
        scored = scored_indices(row.lines)
        if not scored:
            return row  # nothing but blank/comment lines: nothing to label
        self._label(problem, row, scored, siblings)
        return row

    def _evidence(self, problem: Problem, row: LineLabels, scored: list[int], siblings: Sequence[str]) -> Evidence | None:
        return None

    def _label(self, problem: Problem, row: LineLabels, scored: list[int], siblings: Sequence[str] = ()) -> None:
        if row.passed:  # a passing program: every line is on track, no probe needed
            for i in scored:
                row.labels[i] = 1.0
            return
        evidence = self._evidence(problem, row, scored, siblings)
        f = self._oracle(problem, row.lines, scored, row, soft=False, evidence=evidence)
        result = self.search(f, len(scored)) if evidence is None else self.search(f, len(scored), evidence)
        self._apply(row, scored, result)
        if result.first_error is None:
            return  # beyond the policy
        row.first_error = scored[result.first_error - 1]
        for pos, i in enumerate(scored):
            row.labels[i] = 1.0 if pos < result.first_error - 1 else -1.0

    @staticmethod
    @abstractmethod
    def search(f, n: int) -> SearchResult: ...


class _SearchLabeler(_RolloutLabeler):
    """Hard labels from a first-error search. With ``use_evidence`` (the default) passing sibling
    responses and passing rollouts that run through a prefix count as f = 1 for it (see ``Evidence``):
    they are samples of the policy's continuation of that prefix, like the K rollouts. Without it, f is
    the K rollouts alone (the paper's definition)."""

    def __init__(self, judge: Judge, prober: Prober, use_evidence: bool = True) -> None:
        super().__init__(judge, prober)
        self.use_evidence = use_evidence

    def _evidence(self, problem: Problem, row: LineLabels, scored: list[int], siblings: Sequence[str]) -> Evidence | None:
        if not self.use_evidence:
            return None
        evidence = Evidence(problem, row.lines, scored)
        others = [s for s in dict.fromkeys(siblings) if s != row.completion]
        for sibling, verdict in zip(others, self.judge.verdicts(problem, [program_for(problem, s) for s in others])):
            if verdict is not None and verdict.passed:
                evidence.add(sibling)
        return evidence


class BinaryLabeler(_SearchLabeler):
    """Binary search: f(0), then at most ceil(log2 n) probes; evidence only skips probes."""

    method = "binary"
    search = staticmethod(binary_first_error)


class LinearLabeler(_SearchLabeler):
    """Every prefix probed: the exact, costly reference for ``binary``."""

    method = "linear"
    search = staticmethod(linear_first_error)


class MCLabeler(_RolloutLabeler):
    """Soft labels: line value = pass fraction of K rollouts from the prefix ending after it; the last
    scored line gets the response's own outcome. Passing responses are probed too (their soft values
    say how safe each line was)."""

    method = "mc"

    @staticmethod
    def search(f, n: int) -> SearchResult:  # not used: mc needs the outcome, see _label
        raise NotImplementedError

    def _label(self, problem: Problem, row: LineLabels, scored: list[int], siblings: Sequence[str] = ()) -> None:
        result = mc_values(self._oracle(problem, row.lines, scored, row, soft=True), len(scored), row.passed)
        self._apply(row, scored, result)
        if result.beyond_policy:
            return
        if result.first_error is not None:
            row.first_error = scored[result.first_error - 1]
        for j, i in enumerate(scored, start=1):
            row.labels[i] = result.values[j] if j < len(scored) else (1.0 if row.passed else 0.0)


def make_labeler(method: str, judge: Judge, prober: Prober | None, k: int, policy: Any = None, **options: Any) -> Labeler:
    """The labeler for a method name (``binary | linear | mc | mutation``)."""
    if method == "mutation":
        from codeprm.labels.mutation import MutationLabeler

        return MutationLabeler(judge, k=k, policy=policy, **options)
    classes = {"binary": BinaryLabeler, "linear": LinearLabeler, "mc": MCLabeler}
    if method not in classes:
        raise CodeprmError(f"unknown labeling method '{method}'; known: binary, linear, mc, mutation")
    if prober is None:
        raise CodeprmError(f"method '{method}' needs a policy to roll out")
    return classes[method](judge, prober)
