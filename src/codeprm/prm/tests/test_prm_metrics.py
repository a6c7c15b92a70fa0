"""Evaluation metrics against brute force and hand-worked cases."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from codeprm.prm.data import LabelRow
from codeprm.prm.metrics import aggregate, auroc, best_of_n, candidate_groups, line_metrics, predicted_first_error


def brute_auroc(scores, positives):
    pairs = [(p, n) for p, n in itertools.product(
        [s for s, y in zip(scores, positives) if y], [s for s, y in zip(scores, positives) if not y])]
    return sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs) / len(pairs)


def test_auroc_matches_pairwise_count_with_ties():
    rng = random.Random(1)
    for _ in range(20):
        scores = [rng.choice([0.1, 0.2, 0.3, 0.5, 0.9]) for _ in range(30)]
        positives = [rng.random() < 0.4 for _ in range(30)]
        if any(positives) and not all(positives):
            assert auroc(scores, positives) == pytest.approx(brute_auroc(scores, positives))
    assert auroc([1, 2, 3, 4], [False, False, True, True]) == 1.0
    assert auroc([1, 2, 3, 4], [True, True, False, False]) == 0.0
    assert math.isnan(auroc([1, 2], [True, True]))


def row(pid, labels, first_error, passed):
    lines = ["x" if l is not None else "" for l in labels]
    return LabelRow(pid, "", "\n".join(lines), lines, labels, first_error, passed, "binary")


def test_first_error_accuracy_threshold_and_argmin():
    rows = [row("a", [1.0, None, -1.0, -1.0], 2, False),   # predicted 2 (0.2 < 0.5): hit
            row("b", [1.0, -1.0, -1.0], 1, False),          # predicted 0 (0.4): miss; argmin 2: miss
            row("c", [1.0, 1.0], None, True)]               # passed: not counted
    scores = [[0.9, None, 0.2, 0.3], [0.4, 0.45, 0.1], [0.8, 0.7]]
    m = line_metrics(rows, scores, threshold=0.5)
    assert m["failed_with_first_error"] == 2
    assert m["first_error_accuracy"] == 0.5 and m["first_error_accuracy_argmin"] == 0.5
    good = [0.9, 0.8, 0.7, 0.4]
    bad = [0.2, 0.3, 0.45, 0.1]
    assert m["line_auroc"] == pytest.approx(brute_auroc(good + bad, [True] * 4 + [False] * 4))
    assert predicted_first_error([0.9, None, 0.6], 0.5) is None


def test_best_of_n_ties_are_random_and_perfect_scores_are_the_oracle():
    groups = [[row("a", [1.0], None, True), row("a", [-1.0], 0, False), row("a", [-1.0], 0, False)],
              [row("b", [-1.0], 0, False), row("b", [-1.0], 0, False), row("b", [-1.0], 0, False)]]
    result = best_of_n(groups, {"same": lambda r: 0.0, "perfect": lambda r: float(r.passed), "worst": lambda r: -float(r.passed)})
    assert result["random"] == pytest.approx((1 / 3 + 0) / 2)
    assert result["same"] == pytest.approx(result["random"])
    assert result["perfect"] == result["oracle"] == 0.5
    assert result["worst"] == 0.0


def test_aggregate_and_groups():
    assert aggregate([None, 0.2, 0.6], "min") == 0.2 and aggregate([None, 0.2, 0.6], "mean") == pytest.approx(0.4)
    assert aggregate([None, 0.2, 0.6, None], "last") == 0.6
    assert aggregate([None], "mean") == -math.inf
    rows = [row(p, [1.0], None, True) for p in ["a"] * 8 + ["b"] * 8 + ["c"] * 3 + ["d"] * 9]
    n, groups = candidate_groups(rows, None)
    assert n == 8 and [len(g) for g in groups] == [8, 8, 8]
    n, groups = candidate_groups(rows, 3)
    assert n == 3 and len(groups) == 4
    mutant = row("c", [-1.0], 0, False)
    mutant.variant = 1  # a mutant of a passing sample is not a policy candidate
    n, groups = candidate_groups(rows + [mutant] * 6, None)
    assert n == 8 and len(groups) == 3
