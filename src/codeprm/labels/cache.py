"""Content-addressed caches of rollouts and verdicts, kept in SQLite so they survive restarts.

A rollout set is keyed by the sha256 of everything that determines it (policy, prompt text, sampling
parameters, seed); a verdict by the sha256 of the problem and the program. Repeating a probe — within a
response, across methods sharing a file, or after a crash — costs nothing.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS rollouts (key TEXT PRIMARY KEY, texts TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS verdicts (key TEXT PRIMARY KEY, passed INTEGER NOT NULL, status TEXT NOT NULL);
"""


def content_key(*parts: object) -> str:
    """sha256 of the JSON encoding of ``parts`` (stable across runs and machines)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def open_db(path: str | Path) -> sqlite3.Connection:
    """A connection in autocommit mode with WAL journaling: readers never block the writer and a
    ``kill -9`` loses at most the transaction in flight."""
    conn = sqlite3.connect(str(path), isolation_level=None, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


@dataclass(frozen=True)
class Verdict:
    passed: bool
    status: str  # Result.status: pass | fail | timeout | ...


class ProbeCache:
    """Rollouts and verdicts in the tables of an open SQLite connection (the label store's, or a
    private in-memory one)."""

    def __init__(self, conn: sqlite3.Connection | None = None) -> None:
        self.conn = conn if conn is not None else sqlite3.connect(":memory:", isolation_level=None)
        self.conn.executescript(_SCHEMA)

    def get_rollouts(self, key: str) -> list[str] | None:
        row = self.conn.execute("SELECT texts FROM rollouts WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def put_rollouts(self, key: str, texts: list[str]) -> None:
        self.conn.execute("INSERT OR IGNORE INTO rollouts (key, texts) VALUES (?, ?)", (key, json.dumps(texts)))

    def get_verdict(self, key: str) -> Verdict | None:
        row = self.conn.execute("SELECT passed, status FROM verdicts WHERE key = ?", (key,)).fetchone()
        return None if row is None else Verdict(bool(row[0]), row[1])

    def put_verdict(self, key: str, verdict: Verdict) -> None:
        self.conn.execute("INSERT OR IGNORE INTO verdicts (key, passed, status) VALUES (?, ?, ?)",
                          (key, int(verdict.passed), verdict.status))
