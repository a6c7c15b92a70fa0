"""Labelers: one interface, ``label(problem, completion) -> LineLabels``, one label per physical line.

``binary`` and ``linear`` give hard labels from the first-error search (``search.py``) over policy
rollouts; ``mc`` gives Math-Shepherd soft labels (pass fractions); ``mutation`` needs no policy
(``mutation.py``). Blank and comment-only lines stay neutral (None) and are never the boundary.

The default is the paper's definition: f(prefix) = 1 when any of K rollouts from the prefix passes,
nothing else. *Sibling evidence* (a passing sibling response that runs through a prefix counts as
f = 1 without a probe) is an explicit option (``evidence=True``), benchmarked separately.
"""

from __future__ import annotations

import bisect
from typing import Any, Sequence

from codeprm.errors import CodeprmError
from codeprm.labels.base import Labeler, VerdictUnknown
from codeprm.labels.lines import prefix_text, scored_indices, split_lines
from codeprm.labels.mutation import MutationLabeler
from codeprm.labels.probe import Judge, ProbeOutcome, Prober, program_for
from codeprm.labels.rows import LineLabels
from codeprm.labels.search import SearchResult, binary_first_error, linear_first_error, mc_values
from codeprm.problems import Problem

__all__ = ["BinaryLabeler", "LinearLabeler", "MCLabeler", "MutationLabeler", "Labeler", "VerdictUnknown",
           "make_labeler", "shared_lines", "sibling_evidence"]


def shared_lines(a: list[str], b: list[str]) -> int:
    """How many leading lines two texts have in common."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def sibling_evidence(lines: list[str], scored: list[int], passing: Sequence[list[str]]) -> int:
    """The largest search step a passing sibling runs through (-1 if none). A sibling response that
    passes and starts with this response's first r lines is a policy sample that continued each of
    those prefixes into a passing program, so f = 1 there with no probe spent. Siblings are fixed before
    the search starts, so binary and linear see the same evidence whatever they probe."""
    step = -1
    for other in passing:
        step = max(step, bisect.bisect_left(scored, shared_lines(other, lines)))  # scored lines in the shared part
    return step


class _RolloutLabeler(Labeler):
    """Shared plumbing of the rollout methods: step j of the search is the prefix that ends after the
    j-th scored line; every probe is K rollouts from that prefix."""

    def __init__(self, judge: Judge, prober: Prober, evidence: bool = False) -> None:
        super().__init__(judge, prober, k=prober.sampling.k)
        self.evidence = evidence

    def _oracle(self, problem: Problem, lines: list[str], scored: list[int], row: LineLabels, soft: bool):
        def f(j: int) -> float:
            m = 0 if j == 0 else scored[j - 1] + 1
            outcome: ProbeOutcome = self.prober.probe(problem, prefix_text(lines, m))
            row.rollouts += outcome.k
            row.fresh_rollouts += outcome.fresh_rollouts
            if outcome.unknown:
                raise VerdictUnknown(f"{problem.id}: probe of a {m}-line prefix has no usable verdict")
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

    def label(self, problem: Problem, completion: str, sample_index: int = 0, siblings: Sequence[str] = (),
              truncated: bool = False) -> LineLabels:
        row = self.base_row(problem, completion, sample_index, truncated)
        scored = scored_indices(row.lines)
        if not scored:
            return row  # nothing but blank/comment lines: nothing to label
        self._label(problem, row, scored, siblings)
        return row

    def _known_good(self, problem: Problem, row: LineLabels, scored: list[int], siblings: Sequence[str]) -> int:
        """With ``evidence``: the largest step a passing sibling runs through; -1 (none) by default."""
        if not self.evidence:
            return -1
        others = [s for s in dict.fromkeys(siblings) if s != row.completion]
        verdicts = self.judge.verdicts(problem, [program_for(problem, s) for s in others])
        passing = [split_lines(s) for s, v in zip(others, verdicts) if v is not None and v.passed]
        return sibling_evidence(row.lines, scored, passing)

    prefetch = False  # methods that probe every step generate them in one batched call (after f(0))

    def _prefetch(self, problem: Problem, row: LineLabels, scored: list[int]) -> None:
        """Generate every step's rollouts in one batch once f(0) > 0 (a probe of the empty prefix alone
        first, so a response beyond the policy costs what it would cost unbatched)."""
        if not self.prefetch or len(scored) < 2:
            return
        empty = self.prober.probe(problem, "")
        row.fresh_rollouts += empty.fresh_rollouts  # the oracle's own f(0) then comes from the cache
        if not empty.passes:
            return
        row.fresh_rollouts += self.prober.prefetch(problem, [prefix_text(row.lines, i + 1) for i in scored[:-1]])

    def _label(self, problem: Problem, row: LineLabels, scored: list[int], siblings: Sequence[str] = ()) -> None:
        if row.passed:  # a passing program: every line is on track, no probe needed
            for i in scored:
                row.labels[i] = 1.0
            return
        self._prefetch(problem, row, scored)
        f = self._oracle(problem, row.lines, scored, row, soft=False)
        result = self.search(f, len(scored), self._known_good(problem, row, scored, siblings), not row.truncated)
        self._apply(row, scored, result)
        if result.beyond_policy:
            return
        if result.undetermined:  # truncated: every line but the last is on track, the last is not blamed
            for i in scored[:-1]:
                row.labels[i] = 1.0
            return
        row.first_error = scored[result.first_error - 1]
        for pos, i in enumerate(scored):
            row.labels[i] = 1.0 if pos < result.first_error - 1 else -1.0

    @staticmethod
    def search(f, n: int, known_good: int = -1, end_bad: bool = True) -> SearchResult:
        raise NotImplementedError


class BinaryLabeler(_RolloutLabeler):
    """Binary search: f(0), then at most ceil(log2 n) probes (sibling evidence, when on, skips some)."""

    method = "binary"
    search = staticmethod(binary_first_error)


class LinearLabeler(_RolloutLabeler):
    """Every prefix probed: the exact, costly reference for ``binary``."""

    method = "linear"
    search = staticmethod(linear_first_error)
    prefetch = True


class MCLabeler(_RolloutLabeler):
    """Soft labels: line value = pass fraction of K rollouts from the prefix ending after it; the last
    scored line gets the response's own outcome (unlabeled for a truncated failing response). Passing
    responses are probed too (their soft values say how safe each line was)."""

    method = "mc"
    prefetch = True

    def _label(self, problem: Problem, row: LineLabels, scored: list[int], siblings: Sequence[str] = ()) -> None:
        self._prefetch(problem, row, scored)
        result = mc_values(self._oracle(problem, row.lines, scored, row, soft=True), len(scored), row.passed)
        self._apply(row, scored, result)
        if result.beyond_policy:
            return
        if result.first_error is not None and not (row.truncated and result.first_error == len(scored)):
            row.first_error = scored[result.first_error - 1]
        for j, i in enumerate(scored, start=1):
            if j < len(scored):
                row.labels[i] = result.values[j]
            elif row.passed or not row.truncated:
                row.labels[i] = 1.0 if row.passed else 0.0


def make_labeler(method: str, judge: Judge, prober: Prober | None, k: int, policy: Any = None,
                 evidence: bool = False, **options: Any) -> Labeler:
    """The labeler for a method name (``binary | linear | mc | mutation``)."""
    if method == "mutation":
        return MutationLabeler(judge, k=k, policy=policy, **options)
    classes = {"binary": BinaryLabeler, "linear": LinearLabeler, "mc": MCLabeler}
    if method not in classes:
        raise CodeprmError(f"unknown labeling method '{method}'; known: binary, linear, mc, mutation")
    if prober is None:
        raise CodeprmError(f"method '{method}' needs a policy to roll out")
    if evidence and method == "mc":
        raise CodeprmError("sibling evidence applies to binary and linear labels only, not mc")
    return classes[method](judge, prober, evidence=evidence)
