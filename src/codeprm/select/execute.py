"""Filling the execution matrix: every distinct program of a problem run on its plausible tests (pass or
fail of each claimed output, and a fingerprint of the actual output on each distinct input) and on the
hidden tests (correct or not), in the sandbox, cached on disk.

The sandbox's public ``Result`` says pass/fail per test but not the value a call returned, so the
outputs come back through a probe appended to the program: ``_codeprm_probe_("c", args, kwargs,
claimed)`` returns ``bool(value == claimed)``, Python's own ``==`` as the generated ``assert`` would use
(the sandbox's strict comparison would fail ``4`` against a claimed ``4.0``, which the assert accepts),
and ``_codeprm_probe_("h", args, kwargs)`` returns a fingerprint of a
canonical form of the value (sets and dicts sorted, ``True``/``1``/``1.0`` alike, floats to 9
significant digits), which fails against the expected ``None`` and is read back from the verdict's
detail. Both run inside the untrusted child, so a program could forge a claim or agreement with others
(as it could fool the generated asserts themselves); they only ever inform a selection, never a verdict.

Each program runs in stages (``stages``): the hidden tests stop at the first stage with a failure
(its verdict is known); the plausible tests stop once a program has timed out ``max_timeouts`` times,
and its remaining cells count as timeouts (failures). Both bound the cost of a program that hangs.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from codeprm.problems.model import Problem, TestCase
from codeprm.select.plausible import input_key

PROBE = "_codeprm_probe_"
_FP = re.compile(r"fp:([0-9a-f]{16})")
VERSION = "1"  # bump when what a cached cell means changes

_PROBE_SOURCE = '''

def _codeprm_canon_(value, depth=0):
    kind = type(value)
    if depth > 40:
        return "deep"
    if kind is bool:
        return "n" + str(int(value))
    if kind is float and value == value and abs(value) < 1e15 and value == int(value):
        return "n" + str(int(value))
    if kind is int:
        return "n" + str(value)
    if kind is float:
        return "f" + format(value, ".9g")
    if kind in (list, tuple):
        return kind.__name__[0] + "[" + ",".join(_codeprm_canon_(v, depth + 1) for v in value) + "]"
    if kind in (set, frozenset):
        return "s{" + ",".join(sorted(_codeprm_canon_(v, depth + 1) for v in value)) + "}"
    if kind is dict:
        return "d{" + ",".join(sorted(_codeprm_canon_(k, depth + 1) + ":" + _codeprm_canon_(v, depth + 1) for k, v in value.items())) + "}"
    return kind.__name__ + ":" + repr(value)


def _codeprm_probe_(mode, args, kwargs, claimed=None):
    value = globals()[{entry!r}](*args, **kwargs)
    if mode == "c":
        return bool(value == claimed)
    text = _codeprm_canon_(value).encode("utf-8", "backslashreplace")
    try:
        import hashlib
        digest = hashlib.sha256(text).hexdigest()[:16]
    except Exception:
        import zlib
        digest = "%08x%08x" % (zlib.crc32(text), zlib.adler32(text))
    return "fp:" + digest
'''


def probe_program(program: str, entry_point: str) -> str:
    """``program`` with the probe appended (it calls ``entry_point`` by name at call time)."""
    return program.rstrip("\n") + "\n" + _PROBE_SOURCE.replace("{entry!r}", repr(entry_point))


@dataclass(frozen=True)
class PlausibleSuite:
    """A problem's plausible tests as the sandbox runs them: claims, then one probe per distinct input."""

    claims: list[TestCase]  # the parsed call tests (input, claimed output)
    inputs: list[TestCase]  # one call test per distinct input (its expected value unused)
    claim_input: list[int]  # claims[i] has input inputs[claim_input[i]]

    @classmethod
    def from_tests(cls, tests: list[TestCase]) -> "PlausibleSuite":
        keys: dict[str, int] = {}
        inputs, claim_input = [], []
        for test in tests:
            key = input_key(test)
            if key not in keys:
                keys[key] = len(inputs)
                inputs.append(test)
            claim_input.append(keys[key])
        return cls(list(tests), inputs, claim_input)

    def sandbox_tests(self) -> list[TestCase]:
        claims = [TestCase.call(args=["c", list(t.args), dict(t.kwargs), t.expected], expected=True) for t in self.claims]
        probes = [TestCase.call(args=["h", list(t.args), dict(t.kwargs)], expected=None) for t in self.inputs]
        return claims + probes

    def digest(self) -> str:
        text = _PROBE_SOURCE + json.dumps([t.model_dump(mode="json") for t in self.sandbox_tests()], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


class Cache:
    """Cells of the execution matrix on disk (SQLite, one row per program and test suite), so a rerun
    only runs what is new. Safe to share between threads of one process."""

    def __init__(self, path: str | Path | None):
        self._lock = threading.Lock()
        self._db = None
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), check_same_thread=False)
            self._db.execute("CREATE TABLE IF NOT EXISTS cells (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            self._db.execute("CREATE TABLE IF NOT EXISTS fills (at REAL, cost TEXT NOT NULL)")
            self._db.commit()
        self._memory: dict[str, dict] = {}

    def get(self, key: str) -> dict | None:
        if key in self._memory:
            return self._memory[key]
        if self._db is None:
            return None
        with self._lock:
            row = self._db.execute("SELECT value FROM cells WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def put_many(self, items: Iterable[tuple[str, dict]]) -> None:
        items = list(items)
        self._memory.update(items)
        if self._db is not None and items:
            with self._lock:
                self._db.executemany("INSERT OR REPLACE INTO cells VALUES (?, ?)", [(k, json.dumps(v)) for k, v in items])
                self._db.commit()

    def record_fill(self, cost: dict) -> None:
        """Remember what filling cells cost, so a later cached run can still report it."""
        if self._db is not None:
            import time

            with self._lock:
                self._db.execute("INSERT INTO fills VALUES (?, ?)", (time.time(), json.dumps(cost)))
                self._db.commit()

    def fills(self) -> list[dict]:
        if self._db is None:
            return []
        with self._lock:
            return [json.loads(row[0]) for row in self._db.execute("SELECT cost FROM fills ORDER BY at")]

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def cell_key(kind: str, problem_id: str, program: str, suite: str, time_limit_s: float) -> str:
    text = "\x00".join([VERSION, kind, problem_id, suite, repr(time_limit_s), program])
    return hashlib.sha256(text.encode()).hexdigest()


def run_staged(sandbox, jobs: list[tuple[str, Problem]], stages: list[int],
               stop: Callable[[list[str]], bool]) -> list[list[tuple[str, str]]]:
    """(status, detail) of every test of every job, running each job's tests in slices of ``stages``
    sizes (then the rest); a job stops once ``stop(statuses so far)`` is true, and its tests not run get
    the status ``skipped``. The slices of all active jobs go to the sandbox in one ``run_many``."""
    cells: list[list[tuple[str, str]]] = [[] for _ in jobs]
    active = list(range(len(jobs)))
    start = 0
    for size in [*stages, None]:
        if not active:
            break
        pairs, slices = [], []
        for j in active:
            program, problem = jobs[j]
            end = len(problem.tests) if size is None else min(len(problem.tests), start + size)
            slices.append((start, end))
            if end > start:
                pairs.append((program, problem.model_copy(update={"tests": problem.tests[start:end]})))
        results = iter(sandbox.run_many(pairs) if pairs else [])
        for lo, hi, j in ((lo, hi, j) for j, (lo, hi) in zip(active, slices)):
            if hi > lo:
                cells[j] += [(t.status, t.detail) for t in next(results).tests]
        still = []
        for j in active:
            n = len(jobs[j][1].tests)
            if len(cells[j]) >= n:
                continue
            if stop([status for status, _ in cells[j]]):
                cells[j] += [("skipped", "")] * (n - len(cells[j]))
            else:
                still.append(j)
        active = still
        start += size or 0
    return cells


def read_fingerprint(status: str, detail: str) -> str:
    """The output code of one probe: ``fp:<hex>`` for a value, ``!<status>`` for no value."""
    if status == "fail":
        found = _FP.search(detail)
        return "fp:" + found.group(1) if found else "!unreadable"
    return "!" + status
