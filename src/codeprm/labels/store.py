"""The resumable label store: one SQLite file (WAL) per labeling job.

Tables: ``meta`` (the job's identity), ``responses`` (the sampled responses, saved before any is
labeled so a rerun labels the same text), ``labels`` (one transaction per labeled response, unique per
(problem, sample, configuration)), and the rollout/verdict caches of ``cache.py``. A ``kill -9`` at any
moment loses at most the response in flight; rerunning the same command finishes the job with nothing
lost or duplicated. A store made with another configuration is refused without being written to.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from codeprm.errors import CodeprmError
from codeprm.labels.cache import ProbeCache, content_key, open_db
from codeprm.labels.rows import LineLabels

# 2: probes continue a prefix at the end of its last line (no bare trailing newline); responses carry
# whether the token budget cut them. Version-1 stores hold labels from the old probes and are refused.
SCHEMA_VERSION = 2
RELABEL_HINT = ("its labels came from probes that ended in a bare newline, after which the policy nearly always ends "
                "the program, so they are not the paper's labels; relabel: rerun the same command with --no-resume "
                "(or choose another --out)")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS responses (
    problem_id TEXT NOT NULL, sample_index INTEGER NOT NULL, completion TEXT NOT NULL, truncated INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (problem_id, sample_index));
CREATE TABLE IF NOT EXISTS labels (
    problem_id TEXT NOT NULL, sample_index INTEGER NOT NULL, config TEXT NOT NULL, rows TEXT NOT NULL,
    PRIMARY KEY (problem_id, sample_index, config));
"""


def _read_identity(path: Path) -> dict | None:
    """The identity a store was made with, read without writing to the file; None if there is no file."""
    if not path.exists():
        return None
    # A cleanly closed store has no -wal file: read it as immutable so not even -shm/-wal files appear.
    # After a crash the -wal file holds committed data, so it must be read (read-only) through WAL.
    wal = path.with_name(path.name + "-wal").exists()
    try:
        conn = sqlite3.connect(f"file:{path}?{'mode=ro' if wal else 'immutable=1'}", uri=True)
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = 'identity'").fetchone()
            version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise CodeprmError(f"{path} is not a codeprm label store ({exc}); choose another --out") from None
    if row is None:
        raise CodeprmError(f"{path} is not a codeprm label store; choose another --out")
    if version is None or int(version[0]) < SCHEMA_VERSION:
        raise CodeprmError(f"{path} is a label store of schema {version[0] if version else '?'} (now {SCHEMA_VERSION}): {RELABEL_HINT}")
    return json.loads(row[0])


def discard_store(path: str | Path) -> None:
    """Delete a label store and its WAL files (``--no-resume``); only a file that is a label store."""
    path = Path(path)
    if path.exists():
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                conn.execute("SELECT value FROM meta WHERE key = 'identity'").fetchone()
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            raise CodeprmError(f"{path} is not a codeprm label store ({exc}); not deleting it, choose another --out") from None
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)


def check_store(path: str | Path, identity: dict) -> None:
    """Refuse (CodeprmError) a store made with another configuration; touch nothing."""
    path = Path(path)
    stored = _read_identity(path)
    if stored is not None and stored != identity:
        diff = sorted(k for k in set(stored) | set(identity) if stored.get(k) != identity.get(k))
        shown = ", ".join(f"{k}={stored.get(k)!r} (now {identity.get(k)!r})" for k in diff)
        raise CodeprmError(f"{path} holds labels made with another configuration: {shown}; use another --out")


class LabelStore:
    def __init__(self, path: str | Path, identity: dict) -> None:
        self.path = Path(path)
        check_store(self.path, identity)
        self.identity = identity
        self.config_key = content_key("label-config", identity)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = open_db(self.path)
        self.conn.executescript(_SCHEMA)
        self.conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('identity', ?)", (json.dumps(identity, sort_keys=True),))
        self.conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        self.cache = ProbeCache(self.conn)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "LabelStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- responses -------------------------------------------------------------------------------
    def responses(self, problem_id: str) -> list[tuple[str, bool]] | None:
        """(completion, cut by the token budget) of each sampled response, or None if not sampled yet."""
        rows = self.conn.execute("SELECT completion, truncated FROM responses WHERE problem_id = ? ORDER BY sample_index",
                                 (problem_id,)).fetchall()
        return [(r[0], bool(r[1])) for r in rows] or None

    def put_responses(self, problem_id: str, completions: list[tuple[str, bool]]) -> None:
        with self._transaction():
            self.conn.executemany("INSERT OR IGNORE INTO responses (problem_id, sample_index, completion, truncated) VALUES (?, ?, ?, ?)",
                                  [(problem_id, i, c, int(t)) for i, (c, t) in enumerate(completions)])

    # -- labels ----------------------------------------------------------------------------------
    def done(self) -> set[tuple[str, int]]:
        rows = self.conn.execute("SELECT problem_id, sample_index FROM labels WHERE config = ?", (self.config_key,))
        return {(r[0], r[1]) for r in rows}

    def put(self, problem_id: str, sample_index: int, rows: list[LineLabels]) -> None:
        """All rows of one labeled response in one transaction (a rerun never stores them twice)."""
        payload = json.dumps([r.model_dump(mode="json") for r in rows])
        with self._transaction():
            self.conn.execute("INSERT OR IGNORE INTO labels (problem_id, sample_index, config, rows) VALUES (?, ?, ?, ?)",
                              (problem_id, sample_index, self.config_key, payload))

    def rows(self) -> Iterator[LineLabels]:
        """Every stored row, in (problem, sample, variant) order."""
        cursor = self.conn.execute("SELECT rows FROM labels WHERE config = ? ORDER BY rowid", (self.config_key,))
        for (payload,) in cursor:
            for row in json.loads(payload):
                yield LineLabels.model_validate(row)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")
