"""Scoring selections over many problems: pass@1 of a method's pick (ties as the expected value), at the
full sample count or averaged over random subsets of N samples, with bootstrap 95% CIs over problems.
"""

from __future__ import annotations

import zlib

import numpy as np

from codeprm.select.matrix import ProblemMatrix
from codeprm.stats import bootstrap_ci
from codeprm.select.methods import METHODS, expected_pass


def subsets(n_samples: int, size: int | None, count: int, rng: np.random.Generator) -> list[np.ndarray | None]:
    """``count`` random subsets of ``size`` sample indices (without replacement); [None] = all samples."""
    if size is None or size >= n_samples:
        return [None]
    return [np.sort(rng.choice(n_samples, size=size, replace=False)) for _ in range(count)]


def per_problem_scores(matrix: ProblemMatrix, methods: list[str], size: int | None, count: int, seed: int,
                       extra: dict | None = None) -> dict[str, float]:
    """Each method's expected pass@1 on one problem, averaged over ``count`` subsets of ``size`` samples.
    The oracle's value is the chance that the subset holds a correct sample (pass@size)."""
    rng = np.random.default_rng([seed, zlib.crc32(matrix.problem_id.encode())])
    picks = subsets(matrix.n_samples, size, count, rng)
    totals = dict.fromkeys(methods, 0.0)
    for pick in picks:
        arrays = matrix.arrays(pick, extra)
        for name in methods:
            totals[name] += expected_pass(METHODS[name](arrays), arrays["correct"])
    return {name: total / len(picks) for name, total in totals.items()}


def score_methods(matrices: list[ProblemMatrix], methods: list[str], size: int | None = None, count: int = 1,
                  seed: int = 0, extras: dict[str, dict] | None = None) -> dict[str, dict]:
    """Per method: mean pass@1 over problems, its bootstrap 95% CI, and the share of the random->oracle
    gap it closes; ``per_problem`` holds the values the CI resamples."""
    names = list(dict.fromkeys(["random", "oracle", *methods]))
    table = {name: [] for name in names}
    for matrix in matrices:
        scores = per_problem_scores(matrix, names, size, count, seed, (extras or {}).get(matrix.problem_id))
        for name in names:
            table[name].append(scores[name])
    random_mean, oracle_mean = float(np.mean(table["random"])), float(np.mean(table["oracle"]))
    out = {}
    for name in names:
        values = np.asarray(table[name])
        mean = float(values.mean()) if values.size else 0.0
        gap = oracle_mean - random_mean
        out[name] = {
            "pass1": round(mean, 4),
            "ci95": [round(v, 4) for v in bootstrap_ci(values, seed=seed)],
            "gap_closed": round((mean - random_mean) / gap, 4) if gap > 0 else None,
            "per_problem": values,
        }
    return out


def paired_diff_ci(a: np.ndarray, b: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """Bootstrap 95% CI of mean(a - b) over problems (the same resample for both)."""
    return bootstrap_ci(np.asarray(a, dtype=float) - np.asarray(b, dtype=float), seed=seed)
