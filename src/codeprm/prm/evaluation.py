"""``codeprm prm eval``: a PRM (and optionally an ORM baseline) scored against held-out label rows."""

from __future__ import annotations

import math
from typing import Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from codeprm.labels.lines import is_neutral
from codeprm.prm.data import LabelRow
from codeprm.prm.metrics import aggregate, best_of_n, candidate_groups, line_metrics
from codeprm.prm.model import ProcessRewardModel

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
                           n: int | None = None, batch_size: int = 8, progress: bool = True) -> dict:
    """The metrics of ``codeprm.prm.metrics`` in the JSON layout of ``codeprm prm eval --json``."""
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  disable=not progress, console=Console(stderr=True)) as bar:
        line_scores = score_rows(prm, rows, batch_size, bar)
        orm_scores: list[float] = []
        if orm is not None:
            for chunk in _chunks(rows, bar, "ORM scoring"):
                orm_scores += orm.score_programs([r.policy_prompt for r in chunk], [r.completion for r in chunk], batch_size)

    metrics = line_metrics(rows, line_scores, prm.config.threshold)
    n, groups = candidate_groups(rows, n)
    # Ranking uses what a deployed PRM sees: every non-neutral line, no labels.
    by_row = {id(r): [s if not is_neutral(line) else None for s, line in zip(scores, r.lines)] for r, scores in zip(rows, line_scores)}
    selectors = {f"prm_{how}": (lambda r, how=how: aggregate(by_row[id(r)], how)) for how in ("min", "mean", "last")}
    if orm is not None:
        orm_by_row = {id(r): s for r, s in zip(rows, orm_scores)}
        selectors["orm"] = lambda r: orm_by_row[id(r)]
    bon = best_of_n(groups, selectors) if groups else {}
    gap = bon.get("oracle", math.nan) - bon.get("random", math.nan)

    def closed(name: str) -> float | None:
        return (bon[name] - bon["random"]) / gap if name in bon and gap > 0 else None

    result = {
        "line_auroc": metrics["line_auroc"],
        "first_error_accuracy": metrics["first_error_accuracy"],
        "bon_pass1_prm_min": bon.get("prm_min"),
        "bon_pass1_prm_mean": bon.get("prm_mean"),
        "bon_pass1_orm": bon.get("orm"),
        "bon_pass1_random": bon.get("random"),
        "bon_pass1_oracle": bon.get("oracle"),
        "n": n,
        "first_error_accuracy_argmin": metrics["first_error_accuracy_argmin"],
        "bon_pass1_prm_last": bon.get("prm_last"),
        "gap_closed_prm_last": closed("prm_last"),
        "gap_closed_prm_min": closed("prm_min"),
        "gap_closed_prm_mean": closed("prm_mean"),
        "gap_closed_orm": closed("orm"),
        "problems": len(groups),
        "rows": len(rows),
        "labelled_lines": metrics["lines"],
        "failed_with_first_error": metrics["failed_with_first_error"],
        "threshold": prm.config.threshold,
        "loss": prm.config.loss,
    }
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in result.items()}
