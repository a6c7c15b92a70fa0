"""Exports of a label store: rich rows and TRL's stepwise-supervision layout, each as JSONL and
Parquet readable by ``datasets.load_dataset("json" | "parquet", data_files=...)``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from codeprm.labels.rows import LineLabels

RICH_SCHEMA = pa.schema([
    ("problem_id", pa.string()), ("sample_index", pa.int64()), ("variant", pa.int64()), ("prompt", pa.string()),
    ("policy_prompt", pa.string()), ("completion", pa.string()), ("lines", pa.list_(pa.string())),
    ("labels", pa.list_(pa.float64())), ("first_error", pa.int64()), ("passed", pa.bool_()), ("status", pa.string()),
    ("method", pa.string()), ("k", pa.int64()), ("rollouts", pa.int64()), ("fresh_rollouts", pa.int64()),
    ("probes", pa.int64()), ("monotonic_violation", pa.bool_()), ("beyond_policy", pa.bool_()),
    ("empty_prefix_value", pa.float64()), ("prefix_values", pa.list_(pa.float64())), ("mutation", pa.string()),
])
STEPWISE_SCHEMA = pa.schema([("prompt", pa.string()), ("completions", pa.list_(pa.string())), ("labels", pa.list_(pa.bool_()))])


def stepwise_row(row: LineLabels) -> dict | None:
    """TRL stepwise supervision: the non-neutral lines and a bool each (soft values thresholded at
    0.5, so +1 is True and -1 False); None when nothing was labeled."""
    steps = [(line, value) for line, value in zip(row.lines, row.labels) if value is not None]
    if not steps:
        return None
    return {"prompt": row.policy_prompt, "completions": [s[0] for s in steps], "labels": [s[1] >= 0.5 for s in steps]}


def _write_atomic(path: Path, write) -> None:
    """Write via a temporary file and rename, so a crash never leaves half an export behind."""
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def _write_pair(out: Path, stem: str, rows: list[dict], schema: pa.Schema) -> None:
    def jsonl(tmp: Path) -> None:
        with tmp.open("w", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")

    _write_atomic(out / f"{stem}.jsonl", jsonl)
    _write_atomic(out / f"{stem}.parquet", lambda tmp: pq.write_table(pa.Table.from_pylist(rows, schema=schema), tmp))


def export(rows: Iterable[LineLabels], out: str | Path) -> dict[str, int]:
    """Write ``labels.{jsonl,parquet}`` and ``stepwise.{jsonl,parquet}`` into ``out``; row counts back."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rich, stepwise = [], []
    for row in rows:
        rich.append(row.model_dump(mode="json"))
        step = stepwise_row(row)
        if step is not None:
            stepwise.append(step)
    _write_pair(out, "labels", rich, RICH_SCHEMA)
    _write_pair(out, "stepwise", stepwise, STEPWISE_SCHEMA)
    return {"labels": len(rich), "stepwise": len(stepwise)}
