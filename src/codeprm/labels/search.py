"""First-error search over prefixes, as pure functions of an oracle.

Steps are counted over the non-neutral lines only: step ``j`` (0..n) is the prefix that ends after the
``j``-th scored line, step 0 the empty prefix. ``f(j)`` says whether the policy can still complete step
``j`` into a passing program. For a failing response ``f(n)`` is known to be 0 (the response itself is
the one completion of step n), so the searches never probe it. The first error is the smallest ``j >= 1``
with ``f(j) = 0``: scored line ``j`` (1-based) is the line after which nothing passes.

A response cut off by the token budget (``end_bad=False``) failed because it ran out of tokens, which
says nothing about f(n): if every probed step up to n-1 is 1 the first error is *undetermined* (no line
is blamed; the last line stays unlabeled), instead of falling on the last line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

Oracle = Callable[[int], bool]


@dataclass
class SearchResult:
    n: int  # scored lines in the response
    first_error: int | None  # step j in 1..n, None when beyond the policy
    values: dict[int, float] = field(default_factory=dict)  # probed step -> f (0/1, or a pass fraction)
    beyond_policy: bool = False  # f(0) = 0: the policy cannot solve the problem from scratch
    monotonic_violation: bool = False  # some probed step after a 0 was 1 again
    undetermined: bool = False  # truncated response whose probes up to step n-1 all passed: no line blamed

    @property
    def probes(self) -> int:
        return len(self.values)


def _violates(values: dict[int, float]) -> bool:
    """True when a probed step with value 0 precedes one with a positive value."""
    seen_zero = False
    for j in sorted(values):
        if values[j] <= 0:
            seen_zero = True
        elif seen_zero:
            return True
    return False


def binary_first_error(f: Oracle, n: int, known_good: int = -1, end_bad: bool = True) -> SearchResult:
    """Binary search assuming ``f`` is monotone (1…1 0…0): f(0) first (beyond-policy check), then at
    most ceil(log2 n) probes. The left end ``lo`` is always a step observed to be 1, so the boundary
    f(first_error - 1) = 1 is confirmed by construction; the right end is an observed 0 or the failing
    response itself.

    ``known_good`` is the largest step already known to be 1 without a probe (a passing sibling response
    runs through its prefix; -1: none): the search starts above it and skips f(0). A probe failing at or
    below it contradicts monotonicity and is recorded as a violation."""
    if n < 1:
        raise ValueError("a failing response needs at least one scored line")
    values: dict[int, float] = {}
    lo = min(known_good, n - 1)
    if lo < 0:
        values[0] = float(f(0))
        if not values[0]:
            return SearchResult(n=n, first_error=None, values=values, beyond_policy=True)
        lo = 0
    hi = n
    while hi - lo > 1:
        mid = (lo + hi) // 2
        values[mid] = float(f(mid))
        if values[mid]:
            lo = mid
        else:
            hi = mid
    if hi == n and not end_bad:  # f(n) was never observed: nothing to blame
        return SearchResult(n=n, first_error=None, values=values, monotonic_violation=_violates(values), undetermined=True)
    violation = _violates({**values, n: 0.0}) or known_good >= hi
    return SearchResult(n=n, first_error=hi, values=values, monotonic_violation=violation)


def linear_first_error(f: Oracle, n: int, known_good: int = -1, end_bad: bool = True) -> SearchResult:
    """Every step 0..n-1 probed: exact under any ``f``, and the only way to see non-monotone values.
    With ``known_good`` (as in ``binary_first_error``) steps up to it count as 1 whatever their probe
    says, so binary and linear label under the same definition of f; linear still probes (and pays
    for) every step."""
    if n < 1:
        raise ValueError("a failing response needs at least one scored line")

    def value(j: int) -> float:
        probed = f(j)  # always probed: linear's cost is every prefix
        return 1.0 if probed or known_good >= j else 0.0

    values: dict[int, float] = {0: value(0)}
    if not values[0]:
        return SearchResult(n=n, first_error=None, values=values, beyond_policy=True)
    for j in range(1, n):
        values[j] = value(j)
    first = next((j for j in range(1, n) if not values[j]), None)
    if first is None and not end_bad:
        return SearchResult(n=n, first_error=None, values=values, monotonic_violation=_violates(values), undetermined=True)
    first = n if first is None else first
    return SearchResult(n=n, first_error=first, values=values, monotonic_violation=_violates({**values, n: 0.0}))


def mc_values(p: Callable[[int], float], n: int, passed: bool) -> SearchResult:
    """Soft values (Math-Shepherd): the pass fraction ``p(j)`` of every step 0..n-1; step n is the
    response's own outcome. A failing response with p(0) = 0 is beyond the policy."""
    if n < 1:
        raise ValueError("a response needs at least one scored line")
    values: dict[int, float] = {0: float(p(0))}
    if not values[0] and not passed:
        return SearchResult(n=n, first_error=None, values=values, beyond_policy=True)
    for j in range(1, n):
        values[j] = float(p(j))
    all_values = {**values, n: 1.0 if passed else 0.0}
    first = None if passed else next(j for j in range(1, n + 1) if not all_values[j])
    return SearchResult(n=n, first_error=first, values=values, monotonic_violation=_violates(all_values))
