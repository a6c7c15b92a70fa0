"""``codeprm prm eval``: a PRM (and optionally an ORM baseline) scored against held-out label rows."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from codeprm.labels.lines import is_neutral
from codeprm.prm.data import LabelRow
from codeprm.prm.metrics import aggregate, candidate_groups, line_metrics
from codeprm.prm.model import ProcessRewardModel
from codeprm.prm.selection import best_of_n_expected, oracle_expected
from codeprm.stats import paired_bootstrap_ci

CHUNK = 64  # rows scored between progress updates


def _chunks(rows: Sequence[LabelRow], progress: Progress, label: str):
    task = progress.add_task(label, total=len(rows))
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        yield chunk
        progress.update(task, advance=len(chunk))


def score_rows(prm: ProcessRewardModel, rows: Sequence[LabelRow], batch_size: int, progress: Progress) -> list[list[float | None]]:
    """Line scores of every row: labelled lines and every non-neutral line are read."""
    scores: list[list[float | None]] = []
    for chunk in _chunks(rows, progress, "PRM scoring"):
        masks = [[label is not None or not is_neutral(line) for line, label in zip(r.lines, r.labels)] for r in chunk]
        scores += prm.score_many([r.policy_prompt for r in chunk], [r.completion for r in chunk], batch_size, line_masks=masks)
    return scores


def evaluate_reward_models(prm: ProcessRewardModel, rows: Sequence[LabelRow], orm: ProcessRewardModel | None = None,
                           n: int | None = None, batch_size: int = 8, progress: bool = True, candidates: int = 8,
                           public: Sequence[bool | None] | None = None, seed: int = 0) -> dict:
    """The metrics of ``codeprm.prm.metrics`` in the JSON layout of ``codeprm prm eval --json``.

    ``n``: samples per problem in the pool (default: the most common count); ``candidates``: the N of
    best-of-N, averaged exactly over every N-subset of the pool (``codeprm.prm.selection``);
    ``public``: per row, whether its program passes the problem's public example test (enables the
    PRM + execution selectors)."""
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  disable=not progress, console=Console(stderr=True)) as bar:
        line_scores = score_rows(prm, rows, batch_size, bar)
        orm_scores: list[float] = []
        if orm is not None:
            for chunk in _chunks(rows, bar, "ORM scoring"):
                orm_scores += orm.score_programs([r.policy_prompt for r in chunk], [r.completion for r in chunk], batch_size)

    metrics = line_metrics(rows, line_scores, prm.config.threshold)
    pool, groups = candidate_groups(rows, n)
    candidates = min(candidates, pool)
    # Ranking uses what a deployed PRM sees: every non-neutral line, no labels.
    by_row = {id(r): [s if not is_neutral(line) else None for s, line in zip(scores, r.lines)] for r, scores in zip(rows, line_scores)}
    selectors = {f"prm_{how}": (lambda r, how=how: aggregate(by_row[id(r)], how)) for how in ("min", "mean", "last")}
    if orm is not None:
        orm_by_row = {id(r): s for r, s in zip(rows, orm_scores)}
        selectors["orm"] = lambda r: orm_by_row[id(r)]
    if public is not None:
        passes = {id(r): bool(p) for r, p in zip(rows, public)}
        for name in [k for k in selectors]:
            # a candidate passing the public example always ranks above one failing it; scores are bounded
            selectors[f"exec+{name}"] = lambda r, f=selectors[name]: 1e6 * passes[id(r)] + max(f(r), -1e5)
        selectors["exec"] = lambda r: float(passes[id(r)])
    per_problem = {name: [best_of_n_expected([f(r) for r in g], [r.passed for r in g], candidates) for g in groups]
                   for name, f in selectors.items()}
    per_problem["random"] = [float(np.mean([r.passed for r in g])) for g in groups]
    per_problem["oracle"] = [oracle_expected([r.passed for r in g], candidates) for g in groups]
    bon = {name: float(np.mean(v)) if v else math.nan for name, v in per_problem.items()}
    gap = bon.get("oracle", math.nan) - bon.get("random", math.nan)

    def closed(name: str) -> float | None:
        return (bon[name] - bon["random"]) / gap if name in bon and gap > 0 else None

    methods = {}
    for name in selectors:
        diff, lo, hi = paired_bootstrap_ci(per_problem[name], per_problem["random"], seed=seed)
        methods[name] = {"pass1": bon[name], "minus_random": diff, "minus_random_ci95": [lo, hi], "gap_closed": closed(name)}
    prm_signals = [k for k in ("prm_min", "prm_last", "prm_mean") if k in bon]
    best = max(prm_signals, key=lambda k: bon[k]) if groups else None
    result = {
        "line_auroc": metrics["line_auroc"],
        "first_error_accuracy": metrics["first_error_accuracy"],
        "bon_pass1_prm_min": bon.get("prm_min"),
        "bon_pass1_prm_mean": bon.get("prm_mean"),
        "bon_pass1_orm": bon.get("orm"),
        "bon_pass1_random": bon.get("random"),
        "bon_pass1_oracle": bon.get("oracle"),
        "n": candidates,
        "candidates": candidates,
        "samples_per_problem": pool,
        "first_error_accuracy_argmin": metrics["first_error_accuracy_argmin"],
        "bon_pass1_prm_last": bon.get("prm_last"),
        "gap_closed_prm_last": closed("prm_last"),
        "gap_closed_prm_min": closed("prm_min"),
        "gap_closed_prm_mean": closed("prm_mean"),
        "gap_closed_orm": closed("orm"),
        "best_prm_signal": best,
        "gap_closed": closed(best) if best else None,
        "problems": len(groups),
        "rows": len(rows),
        "labelled_lines": metrics["lines"],
        "failed_with_first_error": metrics["failed_with_first_error"],
        "threshold": prm.config.threshold,
        "loss": prm.config.loss,
        "methods": methods,
    }
    if orm is not None and best:
        diff, lo, hi = paired_bootstrap_ci(per_problem[best], per_problem["orm"], seed=seed)
        result.update({"prm_minus_orm": diff, "prm_minus_orm_ci95": [lo, hi]})
        for name in prm_signals:
            d, l, h = paired_bootstrap_ci(per_problem[name], per_problem["orm"], seed=seed)
            methods[name].update({"minus_orm": d, "minus_orm_ci95": [l, h]})
    return _clean(result)


def _clean(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value
