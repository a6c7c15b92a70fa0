"""The first-error searches against pure oracles f(j)."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codeprm.labels.lines import is_neutral, prefix_text, scored_indices, split_lines
from codeprm.labels.search import binary_first_error, linear_first_error, mc_values


def monotone(boundary: int):
    """f(j) = 1 for j < boundary, 0 from it on (boundary in 1..n, or 0 for beyond-policy)."""
    calls = []

    def f(j: int) -> bool:
        calls.append(j)
        return j < boundary

    f.calls = calls
    return f


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 200).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n))))
def test_binary_equals_linear_on_monotone_f(case):
    n, boundary = case
    b, lin = binary_first_error(monotone(boundary), n), linear_first_error(monotone(boundary), n)
    assert b.first_error == lin.first_error == (None if boundary == 0 else boundary)
    assert b.beyond_policy == lin.beyond_policy == (boundary == 0)
    assert not b.monotonic_violation and not lin.monotonic_violation


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 500).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n))))
def test_binary_probes_within_log_bound(case):
    n, boundary = case
    f = monotone(boundary)
    result = binary_first_error(f, n)
    assert result.probes == len(f.calls) == len(set(f.calls))  # each prefix probed once
    assert result.probes <= math.ceil(math.log2(n)) + 1 <= math.ceil(math.log2(max(n, 1))) + 2
    assert n not in f.calls  # the failing response itself is never probed


@settings(max_examples=200, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=64))
def test_binary_boundary_is_confirmed_on_any_f(values):
    """Whatever f is, binary's answer has an observed 1 just before it and a 0 (or the response) at it."""
    n = len(values)
    result = binary_first_error(lambda j: values[j], n)
    if not values[0]:
        assert result.beyond_policy and result.first_error is None
        return
    j = result.first_error
    assert result.values[j - 1] == 1.0
    assert j == n or result.values[j] == 0.0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=64))
def test_linear_is_exact_and_sees_violations(values):
    n = len(values)
    result = linear_first_error(lambda j: values[j], n)
    assert result.probes == (1 if not values[0] else n)
    if values[0]:
        full = values + [False]  # f(n) = 0: the response fails
        assert result.first_error == full.index(False, 1)
        zero_then_one = any(not full[a] and full[b] for a in range(n + 1) for b in range(a + 1, n + 1))
        assert result.monotonic_violation == zero_then_one


def test_linear_violation_example():
    values = [1, 1, 0, 1, 0]  # f(2)=0 then f(3)=1
    result = linear_first_error(lambda j: bool(values[j]), 5)
    assert result.first_error == 2 and result.monotonic_violation


def test_mc_values_and_beyond_policy():
    p = {0: 0.5, 1: 0.75, 2: 0.0}
    result = mc_values(lambda j: p[j], 3, passed=False)
    assert result.values == p and result.first_error == 2 and not result.monotonic_violation
    assert mc_values(lambda j: 0.0, 3, passed=False).beyond_policy
    passing = mc_values(lambda j: 0.0 if j == 0 else 1.0, 3, passed=True)  # solvable only from a prefix
    assert not passing.beyond_policy and passing.first_error is None and passing.monotonic_violation


def test_search_needs_a_line():
    with pytest.raises(ValueError):
        binary_first_error(lambda j: True, 0)


def test_lines_and_neutrality():
    completion = "    x = 1\n\n    # note\n    return x  # done\n"
    lines = split_lines(completion)
    assert lines == ["    x = 1", "", "    # note", "    return x  # done"]
    assert [is_neutral(line) for line in lines] == [False, True, True, False]
    assert scored_indices(lines) == [0, 3]
    assert prefix_text(lines, 0) == "" and prefix_text(lines, 2) == "    x = 1\n\n"
    assert split_lines("a\nb") == ["a", "b"]


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 200).flatmap(lambda n: st.tuples(st.just(n), st.integers(1, n), st.lists(st.integers(-1, 10**6), max_size=12))))
def test_binary_with_sound_evidence_still_equals_linear(case):
    """Evidence that never claims a step past the true boundary changes only the cost, not the answer."""
    n, boundary, draws = case
    answers = iter(min(d, boundary - 1) if d >= 0 else -1 for d in draws)
    best = [-1]

    def evidence() -> int:
        best[0] = max(best[0], next(answers, best[0]))  # evidence only grows as passing programs accumulate
        return best[0]

    f = monotone(boundary)
    result = binary_first_error(f, n, evidence)
    assert result.first_error == boundary and not result.monotonic_violation
    lin = linear_first_error(monotone(boundary), n, evidence)
    assert lin.first_error == boundary and lin.probes == n and not lin.monotonic_violation
    assert result.probes <= binary_first_error(monotone(boundary), n).probes <= math.ceil(math.log2(n)) + 1


def test_binary_evidence_skips_f0_and_flags_contradictions():
    f = monotone(5)
    result = binary_first_error(f, 10, evidence=lambda: 2)
    assert 0 not in f.calls and result.first_error == 5 and not result.monotonic_violation
    # the probe of step 5 fails, yet a passing program turns up that extends step 7: not monotone
    g = monotone(5)
    seen = binary_first_error(g, 10, evidence=lambda: 7 if 5 in g.calls else -1)
    assert g.calls[:2] == [0, 5] and seen.monotonic_violation
