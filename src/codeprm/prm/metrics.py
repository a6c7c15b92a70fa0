"""How good a reward model is: line AUROC, first-error localisation, and best-of-N selection.

Definitions (also in docs/experiments/prm_eval.md):
- **line AUROC**: over every labelled line of every row, the probability that a line labelled correct
  (+1, or soft >= 0.5) scores higher than a line labelled wrong (ties count half).
- **first-error accuracy**: over rows that failed and have a labelled first error, the fraction where
  the predicted first error — the first labelled line scoring below the threshold (0 for mse, 0.5 for
  bce) — is exactly that line. A row with no line below the threshold counts as wrong. The
  ``_argmin`` variant predicts the lowest-scoring labelled line instead (no threshold).
- **best-of-N pass@1**: per problem with at least N rows, the first N rows are the candidates; the
  selector picks the one with the highest score (PRM: min or mean over its scored lines; ORM: its
  program score) and scores 1 if it passes. Ties are split evenly, so a selector that scores every
  candidate alike earns exactly the random baseline. ``random`` is the mean pass rate of the
  candidates, ``oracle`` is 1 when any candidate passes.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
from scipy.stats import rankdata

from codeprm.prm.data import LabelRow, group_by_problem


def auroc(scores: Sequence[float], positives: Sequence[bool]) -> float:
    """Area under the ROC curve by the rank-sum (Mann-Whitney U) formula, ties counted half; NaN when
    one class is empty."""
    scores = np.asarray(scores, dtype=float)
    positives = np.asarray(positives, dtype=bool)
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)  # average ranks for ties
    u = ranks[positives].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def predicted_first_error(scores: Sequence[float | None], threshold: float) -> int | None:
    """Index of the first scored line below ``threshold`` (None: the model sees no error)."""
    for i, s in enumerate(scores):
        if s is not None and s < threshold:
            return i
    return None


def argmin_line(scores: Sequence[float | None]) -> int | None:
    scored = [(s, i) for i, s in enumerate(scores) if s is not None]
    return min(scored)[1] if scored else None


def aggregate(scores: Sequence[float | None], how: str) -> float:
    """A program's score from its line scores (min, mean, or last: the score after its final line);
    -inf when no line is scored, so such a program is chosen last."""
    values = [s for s in scores if s is not None]
    if not values:
        return -math.inf
    if how == "last":
        return values[-1]
    return min(values) if how == "min" else sum(values) / len(values)


def pick_pass_rate(candidates: Sequence[LabelRow], scores: Sequence[float]) -> float:
    """Expected pass of the highest-scored candidate, ties split evenly."""
    best = max(scores)
    tied = [row for row, s in zip(candidates, scores) if s == best]
    return sum(row.passed for row in tied) / len(tied)


def best_of_n(groups: Sequence[Sequence[LabelRow]], selectors: dict[str, Callable[[LabelRow], float]]) -> dict[str, float]:
    """Mean pass@1 over problems for each selector, beside random choice and the oracle."""
    result = {name: float(np.mean([pick_pass_rate(g, [f(r) for r in g]) for g in groups])) for name, f in selectors.items()}
    result["random"] = float(np.mean([np.mean([r.passed for r in g]) for g in groups]))
    result["oracle"] = float(np.mean([any(r.passed for r in g) for g in groups]))
    return result


def line_metrics(rows: Sequence[LabelRow], line_scores: Sequence[Sequence[float | None]], threshold: float) -> dict:
    """Line AUROC and first-error accuracy of line scores against the rows' labels."""
    flat_scores, flat_good = [], []
    hits = hits_argmin = n_failed = 0
    for row, scores in zip(rows, line_scores):
        labelled = [i for i in row.labelled() if scores[i] is not None]
        flat_scores += [scores[i] for i in labelled]
        flat_good += [row.good(i) for i in labelled]
        if row.passed or row.first_error is None:
            continue
        n_failed += 1
        only_labelled = [scores[i] if row.labels[i] is not None else None for i in range(len(scores))]
        hits += predicted_first_error(only_labelled, threshold) == row.first_error
        hits_argmin += argmin_line(only_labelled) == row.first_error
    return {
        "line_auroc": auroc(flat_scores, flat_good),
        "first_error_accuracy": hits / n_failed if n_failed else float("nan"),
        "first_error_accuracy_argmin": hits_argmin / n_failed if n_failed else float("nan"),
        "lines": len(flat_scores),
        "failed_with_first_error": n_failed,
    }


def candidate_groups(rows: Sequence[LabelRow], n: int | None) -> tuple[int, list[list[LabelRow]]]:
    """(N, the problems' candidate lists): the policy's own samples (variant 0; mutants are not
    candidates) grouped by problem. N defaults to the most common number of samples per problem;
    problems with fewer than N samples are left out, larger groups keep their first N."""
    groups = list(group_by_problem([r for r in rows if r.variant == 0]).values())
    if n is None:
        sizes = [len(g) for g in groups]
        n = max(set(sizes), key=lambda s: (sizes.count(s), s))
    return n, [g[:n] for g in groups if len(g) >= n]
