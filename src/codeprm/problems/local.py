"""Reading LOCAL copies of benchmarks (never a hub), shared by the per-benchmark loaders.

A source is a ``.jsonl``/``.json``/``.parquet`` file, a directory of such files, or a directory written by
HF ``datasets``' ``save_to_disk``, named ``PATH[?split=NAME]`` (which split of a saved ``DatasetDict`` or
which files of a directory; default ``test`` when there is one).
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any, Callable

from codeprm.errors import CodeprmError
from codeprm.problems.jsonl import read_json_rows
from codeprm.problems.model import Problem

log = logging.getLogger("codeprm.problems.adapters")

_DATA_SUFFIXES = (".jsonl", ".json", ".parquet")


def parse_arg(arg: str, benchmark: str) -> tuple[Path, str | None]:
    """``PATH[?split=NAME]`` -> (path, split)."""
    if not arg:
        raise CodeprmError(f"benchmark '{benchmark}' needs a local path: {benchmark}:PATH (a .jsonl/.json/.parquet file or a saved dataset directory)")
    path_text, _, query = arg.partition("?")
    split = None
    for pair in filter(None, query.split("&")):
        key, _, value = pair.partition("=")
        if key != "split" or not value:
            raise CodeprmError(f"{benchmark}: unknown option '{pair}'; the only option is ?split=NAME")
        split = value
    path = Path(path_text).expanduser()
    if not path.exists():
        raise CodeprmError(f"{benchmark}: no such file or directory: {path}")
    return path, split


def read_rows(path: Path, split: str | None = None) -> list[dict[str, Any]]:
    """Rows of a local dataset copy, read with HF ``datasets`` (no hub access)."""
    import datasets

    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        if path.is_dir() and ((path / "state.json").is_file() or (path / "dataset_dict.json").is_file()):
            return _from_disk(datasets.load_from_disk(str(path)), path, split)
        files = _data_files(path, split)
        kind = "parquet" if files[0].suffix == ".parquet" else "json"
        if any((f.suffix == ".parquet") != (kind == "parquet") for f in files):
            raise CodeprmError(f"{path}: mixes parquet and JSON files; point at one kind")
        try:
            ds = datasets.load_dataset(kind, data_files=[str(f) for f in files], split="train")
            return ds.to_list()
        except CodeprmError:
            raise
        except Exception as exc:  # noqa: BLE001 - arrow could not unify the schema; JSON needs no schema
            if kind == "parquet":
                raise CodeprmError(f"{path}: could not read parquet ({type(exc).__name__}: {str(exc)[:200]})") from None
            return [row for f in files for row in read_json_rows(f)]
    finally:
        if was_enabled:
            datasets.enable_progress_bars()


def _from_disk(obj: Any, path: Path, split: str | None) -> list[dict[str, Any]]:
    import datasets

    if isinstance(obj, datasets.DatasetDict):
        names = list(obj)
        pick = split or ("test" if "test" in obj else names[0] if len(names) == 1 else None)
        if pick not in obj:
            raise CodeprmError(f"{path}: choose a split with ?split=NAME; it has {', '.join(names)}")
        obj = obj[pick]
    return obj.to_list()


def _data_files(path: Path, split: str | None) -> list[Path]:
    if path.is_file():
        if path.suffix not in _DATA_SUFFIXES:
            raise CodeprmError(f"{path}: expected a .jsonl, .json or .parquet file, or a dataset directory")
        return [path]
    files = sorted(f for f in path.rglob("*") if f.is_file() and f.suffix in _DATA_SUFFIXES and not f.name.startswith(("dataset_info", "state")))
    if not files:
        raise CodeprmError(f"{path}: no .jsonl, .json or .parquet files in this directory")
    want = split or ("test" if any("test" in f.name for f in files) else None)
    if want:
        chosen = [f for f in files if want in f.name]
        if not chosen:
            raise CodeprmError(f"{path}: no data file has '{want}' in its name")
        files = chosen
    return files


def field(row: dict[str, Any], *names: str, where: str) -> Any:
    """The first of ``names`` present in ``row``; a one-line error naming them when none is."""
    for name in names:
        if name in row and row[name] is not None:
            return row[name]
    raise CodeprmError(f"{where}: missing field '{names[0]}'" + (f" (or {', '.join(names[1:])})" if names[1:] else ""))


def load_rows(arg: str, benchmark: str, convert: Callable[[dict[str, Any], str], Problem | None]) -> list[Problem]:
    path, split = parse_arg(arg, benchmark)
    rows = read_rows(path, split)
    problems = []
    for i, row in enumerate(rows):
        problem = convert(row, f"{path}: row {i}")
        if problem is not None:
            problems.append(problem)
    if len(problems) < len(rows):
        log.warning("%s: skipped %d of %d rows without usable tests", benchmark, len(rows) - len(problems), len(rows))
    return problems


def json_field(value: Any, where: str, name: str) -> Any:
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise CodeprmError(f"{where}: field '{name}' is not valid JSON ({exc.msg})") from None
    return value


def stdio_text(value: Any) -> str:
    """APPS/CodeContests stdio text: a string, or a list of lines."""
    if isinstance(value, list):
        return "\n".join(str(v) for v in value) + "\n"
    return str(value)


def normalise(code: str) -> str:
    return code.replace("\r\n", "\n").replace("\r", "\n")


def solution_shim(starter_code: str, fn_name: str) -> str:
    """test_setup for LeetCode-style starter code: tests call ``fn_name`` on a fresh ``Solution()``."""
    if not re.search(r"^class\s+Solution\b", starter_code or "", re.M):
        return ""
    # a program that defines a plain function instead of the class keeps its function
    return (
        'if "Solution" in globals():\n'
        f"    def {fn_name}(*args, **kwargs):\n        return Solution().{fn_name}(*args, **kwargs)\n"
    )
