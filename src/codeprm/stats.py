"""Confidence intervals, once for every stage: percentile bootstrap 95% intervals of a mean over
problems, of a paired difference, and hierarchical ones over seeds then problems.

A result measured on P problems varies with the problem sample; one measured over S training seeds also
varies with the seed. Resampling problems alone would claim a precision the seeds do not have, so runs
(S seeds x P problems) are resampled at both levels.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def bootstrap_ci(values: Sequence[float], n_boot: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """95% interval of the mean of ``values`` (one per problem), resampling problems with replacement."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def paired_bootstrap_ci(a: Sequence[float], b: Sequence[float], n_boot: int = 10_000, seed: int = 0) -> tuple[float, float, float]:
    """(mean of a - b, and its 95% interval) for two methods measured on the same problems: the problems
    are resampled once for both, so what they share cancels."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if d.size == 0:
        return float("nan"), float("nan"), float("nan")
    low, high = bootstrap_ci(d, n_boot, seed)
    return float(d.mean()), low, high


def _draw(rng: np.random.Generator, runs: np.ndarray, problems: np.ndarray) -> float:
    """One hierarchical draw of the mean of ``runs`` (S, P): seeds with replacement, then the given
    problem indices for each drawn seed (``problems`` (S, P))."""
    seeds = rng.integers(0, runs.shape[0], runs.shape[0])
    return float(np.mean(runs[seeds[:, None], problems]))


def hierarchical_ci(runs: Sequence[Sequence[float]], n_boot: int = 4000, seed: int = 0) -> list[float]:
    """95% interval of the mean over seeds and problems of ``runs`` (S seeds x P problems)."""
    x = np.asarray(runs, dtype=float)
    rng = np.random.default_rng(seed)
    S, P = x.shape
    stats = [_draw(rng, x, rng.integers(0, P, (S, P))) for _ in range(n_boot)]
    return [float(np.percentile(stats, 2.5)), float(np.percentile(stats, 97.5))]


def hierarchical_diff_ci(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]], n_boot: int = 4000, seed: int = 0) -> list[float]:
    """95% interval of mean(a) - mean(b) for two methods' runs (S_a x P and S_b x P, the same problems):
    seeds are drawn independently per method, problem indices once per draw and shared by both."""
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if xa.shape[1] != xb.shape[1]:
        raise ValueError(f"the two methods were measured on different problem counts ({xa.shape[1]} vs {xb.shape[1]})")
    rng = np.random.default_rng(seed)
    P = xa.shape[1]
    stats = []
    for _ in range(n_boot):
        problems = rng.integers(0, P, P)
        stats.append(_draw(rng, xa, np.tile(problems, (xa.shape[0], 1))) - _draw(rng, xb, np.tile(problems, (xb.shape[0], 1))))
    return [float(np.percentile(stats, 2.5)), float(np.percentile(stats, 97.5))]


def hierarchical_paired_diff_ci(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]], n_boot: int = 4000,
                                seed: int = 0) -> list[float]:
    """95% interval of mean(a) - mean(b) when the two methods share their seeds (row s of ``a`` and of ``b``
    ran from the same seed) and problems: each draw resamples seed indices and problem indices once and
    applies them to both, so what a seed or a problem does to both methods cancels."""
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if xa.shape != xb.shape:
        raise ValueError(f"paired runs need the same seeds and problems ({xa.shape} vs {xb.shape})")
    d = xa - xb
    rng = np.random.default_rng(seed)
    S, P = d.shape
    stats = [_draw(rng, d, rng.integers(0, P, (S, P))) for _ in range(n_boot)]
    return [float(np.percentile(stats, 2.5)), float(np.percentile(stats, 97.5))]
