"""Selection methods on hand-made execution matrices whose right answer is known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from codeprm.select.methods import (
    b4_scores, cluster_prior, codet_scores, consensus_sets, expected_pass, maxpass_scores, mbr_scores, top_set,
)

# 6 samples x 4 tests. Samples 0-2 are correct and pass tests 0-2 (test 3 claims a wrong output);
# samples 3-4 are a wrong program that passes only test 3 (its own wrong claim); sample 5 passes nothing.
PASSES = np.array([
    [1, 1, 1, 0],
    [1, 1, 1, 0],
    [1, 1, 1, 0],
    [0, 0, 0, 1],
    [0, 0, 0, 1],
    [0, 0, 0, 0],
], dtype=bool)
CORRECT = np.array([1, 1, 1, 0, 0, 0], dtype=bool)


def test_ties_are_scored_as_the_expected_value():
    assert expected_pass(np.zeros(6), CORRECT) == pytest.approx(0.5)  # random = unbiased pass@1
    assert expected_pass(np.array([2, 2, 0, 2, 0, 0.0]), CORRECT) == pytest.approx(2 / 3)
    assert top_set(np.array([1.0, 1.0 + 1e-12, 0.5])).tolist() == [True, True, False]


def test_consensus_sets_group_identical_rows():
    labels, rows = consensus_sets(PASSES)
    assert len(rows) == 3
    assert labels[0] == labels[1] == labels[2] != labels[3] == labels[4] != labels[5]


def test_codet_scores_tests_times_samples():
    scores = codet_scores(PASSES)
    assert scores.tolist() == [9, 9, 9, 2, 2, 0]  # 3 tests x 3 samples; 1 test x 2 samples
    assert expected_pass(scores, CORRECT) == 1.0
    assert codet_scores(PASSES, sample_power=0.5)[0] == pytest.approx(3 * math.sqrt(3))


def test_codet_prefers_a_large_consensus_over_a_lone_overfit_sample():
    # a wrong sample passing 4 tests alone vs 5 samples agreeing on 2 tests: maxpass is fooled, CodeT is not
    passes = np.array([[1, 1, 1, 1]] + [[1, 1, 0, 0]] * 5, dtype=bool)
    correct = np.array([0, 1, 1, 1, 1, 1], dtype=bool)
    assert expected_pass(maxpass_scores(passes), correct) == 0.0
    assert expected_pass(codet_scores(passes), correct) == 1.0


def test_codet_prior_weights_samples():
    passes = np.array([[1, 0], [0, 1], [0, 1]], dtype=bool)
    assert codet_scores(passes).tolist() == [1, 2, 2]
    assert codet_scores(passes, prior=np.array([0.9, 0.1, 0.1])).tolist() == pytest.approx([0.9, 0.2, 0.2])


def test_b4_picks_the_correct_set_and_matches_its_formula():
    scores = b4_scores(PASSES, beta_0=1e4, alpha_xy=1e3)
    assert expected_pass(scores, CORRECT) == 1.0
    # the formula by hand for the set {0, 1, 2} with tests {0, 1, 2}
    lb = lambda a, b: math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
    part_x = lb(3 + 1e3, 3 + 1)  # 3 of 6 samples correct, Beta(alpha_xy, 1)
    part_y = lb(3 + 1e3, 1 + 1)  # 3 of 4 tests correct
    part_1 = lb(0 + 1, 9 + 1)  # wrong samples (3) x correct tests (3): 0 passes
    part_0 = lb(2 + 1, 1 + 1e4)  # wrong samples (3) x wrong test (1): 2 passes, Beta(1, beta_0)
    assert scores[0] == pytest.approx(part_x + part_y + part_1 + part_0)


def test_b4_prefers_the_samples_passing_a_superset_where_codet_counts_heads():
    # 2 samples pass tests 0-3; 4 samples pass 0, 2, 3 but fail 1. CodeT: 2 x 4 = 8 < 4 x 3 = 12, so it
    # picks the 4. B4: if the 4 were right, test 1 would be a wrong test that 2 wrong samples pass, which
    # the Beta(1, beta_0) prior makes very unlikely; if the 2 are right, the 4 merely fail a correct test.
    passes = np.array([[1, 1, 1, 1, 0]] * 2 + [[1, 0, 1, 1, 0]] * 4, dtype=bool)
    correct = np.array([1, 1, 0, 0, 0, 0], dtype=bool)
    assert codet_scores(passes).tolist() == [8, 8, 12, 12, 12, 12]
    assert expected_pass(codet_scores(passes), correct) == 0.0
    assert expected_pass(b4_scores(passes), correct) == 1.0


def test_b4_prior_can_overrule_the_counts():
    passes = np.array([[1, 0], [0, 1], [0, 1]], dtype=bool)
    correct = np.array([1, 0, 0], dtype=bool)
    assert expected_pass(b4_scores(passes), correct) == 0.0  # the bigger set wins without a prior
    strong = np.array([0.99, 0.01, 0.01])
    assert expected_pass(b4_scores(passes, prior=strong), correct) == 1.0


def test_mbr_clusters_by_outputs_and_ignores_silent_samples():
    outputs = np.array([
        [5, 7, 9],
        [5, 7, 9],
        [5, 7, 8],   # disagrees on one input
        [-1, -1, -1],  # crashed everywhere
        [-1, -1, -1],
        [-1, -1, -1],
    ])
    correct = np.array([1, 1, 0, 0, 0, 0], dtype=bool)
    assert mbr_scores(outputs).tolist() == [2, 2, 1, 0, 0, 0]
    assert expected_pass(mbr_scores(outputs), correct) == 1.0
    assert mbr_scores(outputs, soft=True).tolist() == [5, 5, 4, 0, 0, 0]
    assert mbr_scores(np.zeros((3, 0))).tolist() == [0, 0, 0]
    prior = cluster_prior(outputs)
    assert prior[0] > prior[2] > prior[3] > 0 and prior.max() < 1


def _mx(passes, public, correct, outputs=None):
    n = len(correct)
    return {"passes": np.asarray(passes, dtype=bool), "public": np.asarray(public, dtype=bool).reshape(n, -1),
            "correct": np.asarray(correct, dtype=bool),
            "outputs": np.zeros((n, 0), dtype=np.int64) if outputs is None else np.asarray(outputs)}


def test_public_share_and_the_no_examples_tie():
    from codeprm.select.methods import METHODS, public_scores

    public = np.array([[1, 1], [1, 0], [0, 0], [1, 1]], dtype=bool)
    assert public_scores(public).tolist() == [1.0, 0.5, 0.0, 1.0]
    assert public_scores(np.zeros((3, 0), dtype=bool)).tolist() == [0, 0, 0]  # no examples: random
    mx = _mx(np.zeros((4, 1)), public, [1, 0, 0, 0])
    assert expected_pass(METHODS["public"](mx), mx["correct"]) == pytest.approx(0.5)  # samples 0 and 3 tie


def test_public_filter_then_codet_counts_only_the_kept_samples():
    from codeprm.select.methods import METHODS, public_filter

    # 2 correct samples agree on tests 0-1 (CodeT 2 x 2 = 4), 4 copies of a wrong program on its own wrong
    # tests 2-3 (4 x 2 = 8): CodeT picks the wrong program. The one public example is failed by the wrong
    # program, so after the filter CodeT sees the correct pair and a silent sample, and picks the pair.
    passes = np.array([[1, 1, 0, 0]] * 2 + [[0, 0, 1, 1]] * 4 + [[0, 0, 0, 0]], dtype=bool)
    correct = np.array([1, 1, 0, 0, 0, 0, 0], dtype=bool)
    public = np.array([1, 1, 0, 0, 0, 0, 1], dtype=bool)
    mx = _mx(passes, public, correct)
    assert expected_pass(METHODS["codet"](mx), correct) == 0.0
    assert public_filter(public[:, None]).tolist() == [True, True, False, False, False, False, True]
    scores = METHODS["public+codet"](mx)
    assert np.isneginf(scores[2:6]).all() and scores[:2].tolist() == [4, 4] and scores[6] == 0
    assert expected_pass(scores, correct) == 1.0


def test_public_filter_falls_back_to_the_method_when_nobody_passes_every_example():
    from codeprm.select.methods import METHODS

    # example 1 is wrong (nobody passes it): the filter keeps everyone and public+b4 is b4
    public = np.array([[1, 0], [1, 0], [1, 0], [0, 0], [0, 0], [0, 0]], dtype=bool)
    mx = _mx(PASSES, public, CORRECT)
    assert METHODS["public+b4"](mx).tolist() == pytest.approx(METHODS["b4"](mx).tolist())
    no_examples = _mx(PASSES, np.zeros((6, 0), dtype=bool), CORRECT)
    assert METHODS["public+codet"](no_examples).tolist() == METHODS["codet"](no_examples).tolist()


def test_public_filter_then_mbr_clusters_among_the_kept():
    from codeprm.select.methods import METHODS, needs, uses_public

    # 3 samples agree on a wrong output (the largest cluster), 2 on the right one; the example rejects the 3
    outputs = np.array([[0, 0], [0, 0], [0, 0], [1, 1], [1, 1]])
    public = np.array([0, 0, 0, 1, 1], dtype=bool)
    correct = np.array([0, 0, 0, 1, 1], dtype=bool)
    mx = _mx(np.zeros((5, 0)), public, correct, outputs)
    assert expected_pass(METHODS["mbr"](mx), correct) == 0.0
    assert expected_pass(METHODS["public+mbr"](mx), correct) == 1.0
    assert needs("public+mbr") == {"public", "outputs"} and needs("public") == {"public"}
    assert uses_public("public+b4") and not uses_public("b4+mbr")
