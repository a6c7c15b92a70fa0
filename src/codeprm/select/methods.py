"""Selection methods: pure functions from one problem's execution matrix to a score per sample.

Inputs (rows are samples, duplicates included, as each was drawn):
- ``passes``: bool ``(n, m)``, sample i passes plausible test j (its claimed output).
- ``outputs``: int ``(n, k)``, a code for the output of sample i on distinct input c; equal codes are equal
  outputs, ``-1`` means no output (an exception, a timeout).
- ``public``: bool ``(n, e)``, sample i passes public example e (the docstring's examples: part of the
  problem statement, neither hidden tests nor model output; ``e`` may be 0).
- ``prior``: float ``(n,)``, any per-sample score (a PRM's or ORM's, a likelihood), higher is better.

Every method returns one float per sample; the selection is the set of samples with the top score, and
a selection is scored as the expected correctness over that set (``expected_pass``), as the CodeT paper
scores ties. The policy, the sandbox and the reward model stay outside.

Methods:
- ``random``: all samples tie (the expected value is the unbiased pass@1).
- ``oracle``: the hidden tests' verdict (an upper bound: pass@n).
- ``maxpass``: number of plausible tests passed.
- ``codet`` (Chen et al., 2022, "CodeT"): samples with the same set of passed tests form a consensus
  set; its score is (tests passed) x (number of samples in it)^``sample_power`` (1 in the paper; B4's
  reimplementation uses 0.5). With a ``prior``, samples count with that weight.
- ``b4`` (Chen et al., 2024, "B4"): the approximate log-posterior that a consensus set (samples x,
  tests y) is exactly the correct samples and tests, with Beta(``alpha_xy``, 1) priors on the share of
  correct samples and of correct tests, Beta(1, 1) on a wrong sample passing a correct test and
  Beta(1, ``beta_0``) on a wrong sample passing a wrong test; each Bernoulli block is integrated out
  (a log Beta function). With a ``prior`` p_i in (0, 1), the samples' part becomes
  ``prior_weight`` x (sum over x of log p_i + sum over the rest of log(1 - p_i)).
- ``mbr`` (Shi et al., 2022, "MBR-exec"; AlphaCode's clustering): samples with identical outputs on
  every generated input form a cluster; the score is the cluster's size (the minimum Bayes risk under
  the exact-match loss). No claimed outputs are needed. ``soft``: the number of (other sample, input)
  pairs that agree. A sample with no output on any input scores 0.

Methods that use the **public examples** (their names start with ``public``):
- ``public``: the share of public examples a sample passes (all tie when the prompt shows none).
- ``public+<method>`` (AlphaCode's filter, then another method): keep the samples that pass every public
  example when at least one does, and score them with ``<method>`` computed on the kept samples alone
  (its consensus counts only them); the rest score ``-inf``. When no sample passes them all (a wrong or
  unreadable example, or a problem beyond the model) or there are none, all samples are kept, so the
  method is exactly ``<method>``. A hard filter rather than a prior: an example is the specification's
  own claim, and a sample that contradicts it is wrong unless the example is, which the fallback covers.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np


def top_set(scores: np.ndarray) -> np.ndarray:
    """Mask of the samples with the highest score (ties within 1e-9 relative)."""
    scores = np.asarray(scores, dtype=float)
    if scores.size == 0:
        return np.zeros(0, dtype=bool)
    best = scores.max()
    return scores >= best - 1e-9 * max(1.0, abs(best))


def expected_pass(scores: np.ndarray, correct: np.ndarray) -> float:
    """Expected correctness of a uniform pick among the top-scored samples."""
    top = top_set(scores)
    return float(np.asarray(correct, dtype=float)[top].mean()) if top.any() else 0.0


def consensus_sets(passes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(label of each sample's set, the sets' pass rows): samples with identical rows share a set."""
    passes = np.asarray(passes, dtype=bool).reshape(len(passes), -1)
    rows, labels = np.unique(passes, axis=0, return_inverse=True)
    return labels.reshape(-1), rows


def random_scores(n: int) -> np.ndarray:
    return np.zeros(n)


def oracle_scores(correct: np.ndarray) -> np.ndarray:
    return np.asarray(correct, dtype=float)


def maxpass_scores(passes: np.ndarray) -> np.ndarray:
    return np.asarray(passes, dtype=float).reshape(len(passes), -1).sum(axis=1)


def codet_scores(passes: np.ndarray, sample_power: float = 1.0, prior: np.ndarray | None = None) -> np.ndarray:
    """CodeT's dual execution agreement: (tests passed by the set) x (samples in the set)^sample_power."""
    labels, rows = consensus_sets(passes)
    weight = np.ones(len(labels)) if prior is None else np.asarray(prior, dtype=float)
    mass = np.bincount(labels, weights=weight, minlength=len(rows))
    set_scores = rows.sum(axis=1) * np.power(mass, sample_power)
    return set_scores[labels]


def _betaln(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def _bernoulli_beta(ones: float, total: float, a: float = 1.0, b: float = 1.0) -> float:
    """log of the marginal likelihood of ``ones`` successes in ``total`` draws, Beta(a, b) on the rate."""
    return _betaln(ones + a, total - ones + b)


def b4_scores(passes: np.ndarray, beta_0: float = 1e5, alpha_xy: float = 1e3,
              prior: np.ndarray | None = None, prior_weight: float = 1.0) -> np.ndarray:
    """B4's log-posterior of each sample's consensus set being exactly the correct samples and tests."""
    passes = np.asarray(passes, dtype=bool).reshape(len(passes), -1)
    n, m = passes.shape
    labels, rows = consensus_sets(passes)
    if prior is not None:
        p = np.clip(np.asarray(prior, dtype=float), 1e-6, 1 - 1e-6)
        log_p, log_not_p = np.log(p), np.log1p(-p)
    set_scores = np.empty(len(rows))
    for s, y in enumerate(rows):
        x = labels == s
        if prior is None:
            part_x = _bernoulli_beta(x.sum(), n, a=alpha_xy)
        else:
            part_x = prior_weight * float(log_p[x].sum() + log_not_p[~x].sum())
        part_y = _bernoulli_beta(y.sum(), m, a=alpha_xy)
        others = passes[~x]
        e1, e0 = others[:, y], others[:, ~y]
        part_1 = _bernoulli_beta(e1.sum(), e1.size)
        part_0 = _bernoulli_beta(e0.sum(), e0.size, b=beta_0)
        set_scores[s] = part_x + part_y + part_1 + part_0
    return set_scores[labels]


def mbr_scores(outputs: np.ndarray, soft: bool = False) -> np.ndarray:
    """Agreement of outputs on generated inputs: the size of each sample's cluster (identical outputs on
    every input), or with ``soft`` the count of agreeing (other sample, input) pairs."""
    outputs = np.asarray(outputs, dtype=np.int64).reshape(len(outputs), -1)
    n, k = outputs.shape
    if k == 0:
        return np.zeros(n)
    silent = (outputs < 0).all(axis=1)
    if soft:
        valid = outputs >= 0
        agree = np.zeros(n)
        for c in range(k):
            col = outputs[:, c]
            codes, inverse, counts = np.unique(col, return_inverse=True, return_counts=True)
            agree += np.where(valid[:, c], counts[inverse.reshape(-1)] - 1, 0)
        return np.where(silent, 0.0, agree)
    _, labels, counts = np.unique(outputs, axis=0, return_inverse=True, return_counts=True)
    return np.where(silent, 0.0, counts[labels.reshape(-1)].astype(float))


def cluster_prior(outputs: np.ndarray) -> np.ndarray:
    """A prior in (0, 1) from behaviour alone: the share of samples in each sample's MBR cluster."""
    n = len(outputs)
    return (mbr_scores(outputs) + 0.5) / (n + 1.0)


def public_scores(public: np.ndarray) -> np.ndarray:
    """The share of public examples each sample passes (0 for all when there are none: a tie)."""
    public = np.asarray(public, dtype=bool).reshape(len(public), -1)
    return public.mean(axis=1) if public.shape[1] else np.zeros(len(public))


def public_filter(public: np.ndarray) -> np.ndarray:
    """Mask of the samples passing every public example when any does; every sample otherwise."""
    public = np.asarray(public, dtype=bool).reshape(len(public), -1)
    passing = public.all(axis=1)
    return passing if public.shape[1] and passing.any() else np.ones(len(public), dtype=bool)


def filtered_scores(mx: dict, method: str) -> np.ndarray:
    """``method``'s scores computed on the samples the public filter keeps; ``-inf`` for the others."""
    keep = public_filter(mx["public"])
    kept = {name: np.asarray(values)[keep] for name, values in mx.items()}
    scores = np.full(len(keep), -np.inf)
    scores[keep] = METHODS[method](kept)
    return scores


def ranked_scores(prior: np.ndarray) -> np.ndarray:
    """PRM / ORM reranking: the reward model's score is the selection score."""
    return np.asarray(prior, dtype=float)


# name -> function(matrix dict) -> scores; every entry is a pure function of the arrays it reads
Method = Callable[[dict], np.ndarray]
METHODS: dict[str, Method] = {
    "random": lambda mx: random_scores(len(mx["correct"])),
    "oracle": lambda mx: oracle_scores(mx["correct"]),
    "maxpass": lambda mx: maxpass_scores(mx["passes"]),
    "codet": lambda mx: codet_scores(mx["passes"]),
    "codet_sqrt": lambda mx: codet_scores(mx["passes"], sample_power=0.5),
    "b4": lambda mx: b4_scores(mx["passes"]),
    "mbr": lambda mx: mbr_scores(mx["outputs"]),
    "mbr_soft": lambda mx: mbr_scores(mx["outputs"], soft=True),
    "b4+mbr": lambda mx: b4_scores(mx["passes"], prior=cluster_prior(mx["outputs"])),
    "codet+mbr": lambda mx: codet_scores(mx["passes"], prior=cluster_prior(mx["outputs"])),
    "prm": lambda mx: ranked_scores(mx["prm"]),
    "orm": lambda mx: ranked_scores(mx["orm"]),
    "b4+prm": lambda mx: b4_scores(mx["passes"], prior=mx["prm"]),
    "codet+prm": lambda mx: codet_scores(mx["passes"], prior=mx["prm"]),
    "public": lambda mx: public_scores(mx["public"]),
    "public+codet": lambda mx: filtered_scores(mx, "codet"),
    "public+b4": lambda mx: filtered_scores(mx, "b4"),
    "public+mbr": lambda mx: filtered_scores(mx, "mbr"),
}


def uses_public(method: str) -> bool:
    """Whether a method reads the problem statement's public examples."""
    return method.startswith("public")


def needs(method: str) -> set[str]:
    """The arrays a method reads (``prm``/``orm`` come from a reward model, the rest from execution)."""
    if uses_public(method):
        base = method.partition("+")[2]
        return {"public"} | (needs(base) if base else set())
    return {"prm": {"prm"}, "orm": {"orm"}, "b4+prm": {"passes", "prm"}, "codet+prm": {"passes", "prm"},
            "random": {"correct"}, "oracle": {"correct"}, "mbr": {"outputs"}, "mbr_soft": {"outputs"},
            "b4+mbr": {"passes", "outputs"}, "codet+mbr": {"passes", "outputs"}}.get(method, {"passes"})
