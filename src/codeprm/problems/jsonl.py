"""Rows of JSON files, read one way everywhere: JSONL (optionally gzipped) or a ``.json`` list.

``json_rows`` yields every row with its line number and, for a line that is not JSON, the reason, so a
strict reader (``read_json_rows``) stops at the first bad line naming it and a tolerant one (judging
samples generated elsewhere) reports the line and goes on.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any, Iterator

from codeprm.errors import CodeprmError


def json_rows(path: str | Path) -> Iterator[tuple[int, Any, str]]:
    """``(line number, value or None, error)`` per non-blank line; a ``.json`` file holding a list gives
    its elements (line number = 1-based index). A missing file raises ``CodeprmError``."""
    path = Path(path)
    if not path.is_file():
        raise CodeprmError(f"file not found: {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        text = fh.read()
    if text.lstrip().startswith("["):  # one JSON list, or JSONL whose rows are lists
        try:
            values = json.loads(text)
        except json.JSONDecodeError:
            values = None
        if isinstance(values, list):
            yield from ((i, value, "") for i, value in enumerate(values, 1))
            return
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield lineno, json.loads(line), ""
        except json.JSONDecodeError as exc:
            yield lineno, None, f"not valid JSON ({exc.msg})"


def read_json_rows(path: str | Path) -> list[Any]:
    """Every row of ``path``; the first line that is not JSON raises ``CodeprmError`` naming it."""
    rows = []
    for lineno, value, error in json_rows(path):
        if error:
            raise CodeprmError(f"{path}:{lineno}: {error}")
        rows.append(value)
    return rows
