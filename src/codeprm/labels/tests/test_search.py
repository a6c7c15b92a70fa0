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
    assert prefix_text(lines, 0) == "" and prefix_text(lines, 1) == "    x = 1"  # ends at the line end, no newline
    assert split_lines("a\nb") == ["a", "b"]


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 200).flatmap(lambda n: st.tuples(st.just(n), st.integers(1, n), st.integers(-1, 10**6))))
def test_sound_evidence_changes_the_cost_not_the_answer(case):
    """A known-good step at or below the true boundary (what a passing sibling gives on a monotone f)."""
    n, boundary, draw = case
    known_good = min(draw, boundary - 1)
    f = monotone(boundary)
    result = binary_first_error(f, n, known_good)
    assert result.first_error == boundary and not result.monotonic_violation
    assert result.probes <= binary_first_error(monotone(boundary), n).probes <= math.ceil(math.log2(n)) + 1
    assert (0 in f.calls) == (known_good < 0)  # f(0) is free once a sibling passes
    lin = linear_first_error(monotone(boundary), n, known_good)
    assert lin.first_error == boundary and lin.probes == n and not lin.monotonic_violation


@settings(max_examples=200, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=40), st.integers(-1, 45))
def test_binary_and_linear_agree_whenever_f_with_evidence_is_monotone(values, known_good):
    n = len(values)
    combined = [v or j <= known_good for j, v in enumerate(values)] + [False]
    if any(not combined[a] and combined[a + 1] for a in range(n)):
        return  # not monotone: agreement is not promised
    b = binary_first_error(lambda j: values[j], n, known_good)
    lin = linear_first_error(lambda j: values[j], n, known_good)
    assert b.first_error == lin.first_error and b.beyond_policy == lin.beyond_policy


def test_evidence_overrides_failed_probes():
    # a sibling passes through step 7 and the rollouts of steps 8, 9 fail: the boundary is 8
    assert binary_first_error(monotone(8), 10, known_good=7).first_error == 8
    # rollouts fail from step 5 on although a passing sibling ran through step 7: the sibling wins
    f = lambda j: j not in (5, 6, 7, 8, 9)  # noqa: E731
    seen = linear_first_error(f, 10, known_good=7)
    assert seen.first_error == 8 and not seen.monotonic_violation  # evidence overrides the failed probes
    plain = linear_first_error(f, 10)
    assert plain.first_error == 5 and not plain.monotonic_violation


def test_a_sibling_past_the_whole_failing_response_is_a_violation():
    result = binary_first_error(monotone(3), 4, known_good=5)  # a passing program extends every line
    assert result.first_error == 4 and result.monotonic_violation and result.probes == 0
