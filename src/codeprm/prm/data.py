"""Label rows (the ``codeprm label`` export, see the labels package) read, checked, split and turned into
training targets."""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Sequence

from codeprm.errors import CodeprmError
from codeprm.labels.lines import split_lines

HARD_METHODS = {"binary", "linear", "mutation"}
SOFT_METHODS = {"mc"}
_REQUIRED = {"problem_id": str, "policy_prompt": str, "completion": str, "lines": list, "labels": list, "passed": bool, "method": str}


@dataclass
class LabelRow:
    """The fields of one exported row that the reward model uses."""

    problem_id: str
    policy_prompt: str
    completion: str
    lines: list[str]
    labels: list[float | None]
    first_error: int | None
    passed: bool
    method: str
    status: str = ""
    variant: int = 0  # 0: the policy's own sample; > 0: a derived variant (e.g. a mutant), not a candidate
    prompt: str = ""  # problem.prompt when the row was labelled

    @property
    def soft(self) -> bool:
        return self.method in SOFT_METHODS

    def good(self, i: int) -> bool:
        """Whether line ``i`` is labelled correct-so-far (+1, or soft value >= 0.5)."""
        value = self.labels[i]
        return value >= 0.5 if self.soft else value > 0

    def labelled(self) -> list[int]:
        return [i for i, value in enumerate(self.labels) if value is not None]


def line_target(row: LabelRow, i: int, loss: Literal["mse", "bce"]) -> float:
    """Training target of line ``i``: mse regresses on [-1, 1] (hard ±1; soft p -> 2p - 1), bce on
    [0, 1] (hard (label + 1) / 2; soft p as it is)."""
    value = float(row.labels[i])
    p = value if row.soft else (value + 1.0) / 2.0
    return p if loss == "bce" else 2.0 * p - 1.0


def outcome_target(row: LabelRow, loss: Literal["mse", "bce"]) -> float:
    if loss == "bce":
        return 1.0 if row.passed else 0.0
    return 1.0 if row.passed else -1.0


def find_label_file(data: str | Path) -> Path:
    path = Path(data)
    if path.is_dir():
        for name in ("labels.jsonl", "labels.parquet"):
            if (path / name).is_file():
                return path / name
        raise CodeprmError(f"{path} holds no labels.jsonl or labels.parquet (write one with 'codeprm label --out {path}')")
    if path.is_file():
        return path
    raise CodeprmError(f"label data {path} does not exist")


def _raw_rows(path: Path) -> list[dict]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            return pq.read_table(path).to_pylist()
        except Exception as exc:  # pyarrow raises many types for a bad file
            raise CodeprmError(f"{path} is not a readable Parquet file: {exc}") from None
    rows = []
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not text.strip():
            continue
        try:
            rows.append(json.loads(text))
        except json.JSONDecodeError:
            raise CodeprmError(f"{path}:{number} is not JSON") from None
    return rows


def _check(raw: dict, where: str) -> LabelRow:
    if not isinstance(raw, dict):
        raise CodeprmError(f"{where}: a label row must be a JSON object")
    for key, kind in _REQUIRED.items():
        if key not in raw:
            raise CodeprmError(f"{where}: not a label row (no '{key}'); expected the 'codeprm label' layout")
        if not isinstance(raw[key], kind):
            raise CodeprmError(f"{where}: '{key}' must be {kind.__name__}, got {type(raw[key]).__name__}")
    row = LabelRow(problem_id=raw["problem_id"], policy_prompt=raw["policy_prompt"], completion=raw["completion"],
                   lines=list(raw["lines"]), labels=list(raw["labels"]), first_error=raw.get("first_error"),
                   passed=raw["passed"], method=raw["method"], status=str(raw.get("status") or ""),
                   variant=int(raw.get("variant") or 0), prompt=str(raw.get("prompt") or raw["policy_prompt"]))
    if row.lines != split_lines(row.completion):
        raise CodeprmError(f"{where}: 'lines' are not the completion's physical lines")
    if len(row.labels) != len(row.lines):
        raise CodeprmError(f"{where}: {len(row.labels)} labels for {len(row.lines)} lines")
    if row.method not in HARD_METHODS | SOFT_METHODS:
        raise CodeprmError(f"{where}: unknown labeling method '{row.method}'")
    for value in row.labels:
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            raise CodeprmError(f"{where}: a label must be a number or null, got {value!r}")
        if row.soft and not 0.0 <= value <= 1.0:
            raise CodeprmError(f"{where}: soft (mc) label {value} is outside [0, 1]")
        if not row.soft and value not in (1.0, -1.0):
            raise CodeprmError(f"{where}: hard ({row.method}) label {value} is not +1 or -1")
    if row.first_error is not None and not (isinstance(row.first_error, int) and 0 <= row.first_error < len(row.lines)):
        raise CodeprmError(f"{where}: first_error {row.first_error!r} is not a line index")
    return row


def load_label_rows(data: str | Path) -> list[LabelRow]:
    """Every row of a label export (a directory from ``codeprm label`` or its .jsonl/.parquet file),
    checked against the layout; a wrong layout raises CodeprmError naming the row."""
    path = find_label_file(data)
    rows = [_check(raw, f"{path.name} row {i + 1}") for i, raw in enumerate(_raw_rows(path))]
    if not rows:
        raise CodeprmError(f"{path} holds no label rows")
    return rows


def label_format(rows: Sequence[LabelRow]) -> str:
    kinds = {"soft" if row.soft else "hard" for row in rows}
    return kinds.pop() if len(kinds) == 1 else "mixed"


def split_by_problem(rows: Sequence[LabelRow], val_frac: float, seed: int) -> tuple[list[LabelRow], list[LabelRow]]:
    """Train and validation rows with no problem on both sides (samples of one problem are near copies,
    so a row-level split would measure memorisation). At least one problem is held out when
    ``val_frac > 0`` and there are two or more problems."""
    ids = sorted({row.problem_id for row in rows})
    random.Random(seed).shuffle(ids)
    n_val = 0 if val_frac <= 0 or len(ids) < 2 else min(len(ids) - 1, max(1, round(val_frac * len(ids))))
    held = set(ids[:n_val])
    return [r for r in rows if r.problem_id not in held], [r for r in rows if r.problem_id in held]


def group_by_problem(rows: Sequence[LabelRow]) -> dict[str, list[LabelRow]]:
    groups: dict[str, list[LabelRow]] = {}
    for row in rows:
        groups.setdefault(row.problem_id, []).append(row)
    return groups
