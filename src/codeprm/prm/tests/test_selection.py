"""Best-of-N averaged over subsets (checked against enumeration), the paired bootstrap, public tests."""

import itertools
import random

import pytest

from codeprm.prm.selection import best_of_n_expected, oracle_expected, public_test
from codeprm.stats import paired_bootstrap_ci


def _enumerate(scores, passed, n):
    picks, oracle = [], []
    for subset in itertools.combinations(range(len(scores)), n):
        best = max(scores[i] for i in subset)
        tied = [i for i in subset if scores[i] == best]
        picks.append(sum(passed[i] for i in tied) / len(tied))
        oracle.append(any(passed[i] for i in subset))
    return sum(picks) / len(picks), sum(oracle) / len(oracle)


def test_exact_subset_average_matches_enumeration():
    rng = random.Random(0)
    for _ in range(60):
        m = rng.randint(2, 9)
        n = rng.randint(1, m)
        scores = [rng.choice([0.1, 0.2, 0.5, 0.9]) for _ in range(m)]  # many ties
        passed = [rng.random() < 0.4 for _ in range(m)]
        pick, oracle = _enumerate(scores, passed, n)
        assert best_of_n_expected(scores, passed, n) == pytest.approx(pick)
        assert oracle_expected(passed, n) == pytest.approx(oracle)


def test_constant_scores_earn_random_and_a_perfect_ranker_the_oracle():
    passed = [True, False, False, True, False, False, False, False]
    assert best_of_n_expected([0.0] * 8, passed, 4) == pytest.approx(2 / 8)
    assert best_of_n_expected([float(p) for p in passed], passed, 4) == pytest.approx(oracle_expected(passed, 4))
    with pytest.raises(ValueError):
        best_of_n_expected([0.0], [True], 2)


def test_paired_bootstrap_interval():
    a = [1.0, 0.0, 1.0, 1.0, 0.0] * 8
    diff, lo, hi = paired_bootstrap_ci(a, a)
    assert diff == lo == hi == 0.0
    diff, lo, hi = paired_bootstrap_ci([x + 0.1 for x in a], a)
    assert diff == pytest.approx(0.1) and lo == pytest.approx(0.1) and hi == pytest.approx(0.1)
    diff, lo, hi = paired_bootstrap_ci(a, [0.5] * len(a), seed=1)
    assert lo < diff < hi


def test_public_test_from_a_synth_prompt():
    from codeprm.problems import load_benchmark

    problem = load_benchmark("synth:heldout?size=3")[0]
    name, test = public_test(problem.prompt)
    assert name == problem.entry_point
    assert any(t.args == test.args and t.expected == test.expected for t in problem.tests)
    assert public_test("def f(x):\n    return x\n") is None
