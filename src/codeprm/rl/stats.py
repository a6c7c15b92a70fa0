"""Hierarchical bootstrap over RL runs: resample seeds, then problems within each drawn seed.

A run's held-out result is a per-problem pass-rate vector ``r[seed][problem]`` (mean over the samples
of that problem). The variance of a method's mean has two sources, the training seed and the problem
sample; resampling both levels gives a 95% interval that covers both (a bootstrap over problems alone
would claim a precision the seeds do not have).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def _draw(rng: np.random.Generator, runs: np.ndarray, problems: np.ndarray) -> float:
    """One hierarchical draw of the mean of ``runs`` (S, P): seeds with replacement, then the given
    problem indices for each drawn seed (``problems`` (S, P))."""
    seeds = rng.integers(0, runs.shape[0], runs.shape[0])
    return float(np.mean(runs[seeds[:, None], problems]))


def bootstrap_mean_ci(runs: Sequence[Sequence[float]], n_boot: int = 4000, seed: int = 0) -> list[float]:
    """95% interval of the mean over seeds and problems of ``runs`` (S seeds x P problems)."""
    x = np.asarray(runs, dtype=float)
    rng = np.random.default_rng(seed)
    S, P = x.shape
    stats = [_draw(rng, x, rng.integers(0, P, (S, P))) for _ in range(n_boot)]
    return [float(np.percentile(stats, 2.5)), float(np.percentile(stats, 97.5))]


def bootstrap_diff_ci(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]], n_boot: int = 4000, seed: int = 0) -> list[float]:
    """95% interval of mean(a) - mean(b) for two methods' runs (S_a x P and S_b x P, the same problems):
    seeds are drawn independently per method, problem indices are drawn once per iteration and shared
    (both methods were measured on the same problems)."""
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
