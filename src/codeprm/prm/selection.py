"""Best-of-n selection measured without the luck of one draw, and its confidence intervals.

**Best-of-n from M candidates, averaged over subsets.** A problem has M sampled candidates (say 16); a
selector's best-of-n pass@1 (say n = 8) is its expected pass over *every* n-subset of them, computed
exactly: sort the candidates by score; a group of tied candidates whose score is v is the subset's best
group with probability [C(M - a, n) - C(M - a - t, n)] / C(M, n), where a candidates score above v and
t tie at v, and the pick inside it is uniform, so it passes with the group's mean pass rate. This is the
unbiased estimator of the pass@1 of picking the best of n fresh samples (as pass@k's estimator is for
"any of k"); ``random`` is the candidates' mean pass rate, ``oracle`` 1 - C(M - c, n) / C(M, n) with c
passing candidates.

**Paired bootstrap over problems.** Every method is scored on the same problems, so differences
(PRM - ORM, method - random) are resampled by problem, keeping the pairing; the 95% interval is the
2.5 and 97.5 percentiles of the resampled mean difference.

**Public tests.** A synth problem's docstring shows one example call and its result (``>>> f(...)``
then the value); executing candidates on it is what a deployed system can do without the hidden tests.
"""

from __future__ import annotations

from math import comb
from typing import Sequence

from codeprm.problems import Problem, TestCase


def best_of_n_expected(scores: Sequence[float], passed: Sequence[bool], n: int) -> float:
    """Exact expected pass of the highest-scored candidate of a uniform n-subset (ties split evenly)."""
    m = len(scores)
    if not 1 <= n <= m:
        raise ValueError(f"best-of-{n} needs at least {n} candidates, got {m}")
    total = comb(m, n)
    groups: dict[float, list[bool]] = {}
    for s, p in zip(scores, passed):
        groups.setdefault(s, []).append(bool(p))
    expected, above = 0.0, 0
    for value in sorted(groups, reverse=True):
        tied = groups[value]
        t = len(tied)
        p_best = (comb(m - above, n) - comb(m - above - t, n)) / total
        expected += p_best * sum(tied) / t
        above += t
    return expected


def oracle_expected(passed: Sequence[bool], n: int) -> float:
    """Probability that a uniform n-subset holds a passing candidate."""
    m, c = len(passed), sum(bool(p) for p in passed)
    return 1.0 - comb(m - c, n) / comb(m, n)


def public_test(prompt: str) -> tuple[str, TestCase] | None:
    """(function name, the first docstring example as a test) of a prompt, or None when it shows none
    that can be read (see :mod:`codeprm.problems.examples` for the notations)."""
    from codeprm.problems.examples import docstring_examples

    found = docstring_examples(prompt).found
    return (found[0].name, found[0].test) if found else None


def public_test_results(rows: Sequence, sandbox) -> list[bool | None]:
    """Per row: does its program pass the docstring example (None: the prompt shows none)."""
    from codeprm.programs import program_text

    out: list[bool | None] = [None] * len(rows)
    jobs, where = [], []
    for i, row in enumerate(rows):
        found = public_test(row.prompt)
        if found is None:
            continue
        name, test = found
        problem = Problem(id=f"{row.problem_id}#public", prompt=row.prompt, entry_point=name, tests=[test], style="completion")
        jobs.append((program_text(problem, row.completion), problem))
        where.append(i)
    for i, result in zip(where, sandbox.run_many(jobs) if jobs else []):
        out[i] = None if result.infra_error else bool(result.passed)
    return out
