"""CodeContests from a local copy: ``codecontests:PATH``.

Problems accepting several correct outputs (special judges) cannot be judged by stdout comparison;
their tests are kept as written.
"""

from __future__ import annotations

from typing import Any

from codeprm.errors import CodeprmError
from codeprm.problems.local import field, load_rows, normalise
from codeprm.problems.model import Problem, TestCase

_PYTHON3 = 3  # CodeContests' language enum: 1 PYTHON (2), 2 CPP, 3 PYTHON3, 4 JAVA


def load_codecontests(arg: str) -> list[Problem]:
    """CodeContests (``name``, ``description``, ``public_tests``/``private_tests``/``generated_tests`` as
    ``{input: [...], output: [...]}``, ``solutions`` as ``{language: [...], solution: [...]}``)."""
    return load_rows(arg, "codecontests", codecontests_problem)


def codecontests_problem(row: dict[str, Any], where: str) -> Problem | None:
    name = field(row, "name", where=where)
    description = field(row, "description", where=where)
    tests: list[TestCase] = []
    for key in ("public_tests", "private_tests", "generated_tests"):
        block = row.get(key) or {}
        ins, outs = block.get("input") or [], block.get("output") or []
        if len(ins) != len(outs):
            raise CodeprmError(f"{where}: {key} has {len(ins)} inputs but {len(outs)} outputs")
        tests += [TestCase.stdio(stdin=i, stdout=o) for i, o in zip(ins, outs)]
    if not tests:
        return None
    sols = row.get("solutions") or {}
    reference = next((s for lang, s in zip(sols.get("language") or [], sols.get("solution") or []) if lang == _PYTHON3), None)
    limits: dict[str, Any] = {}
    tl = row.get("time_limit") or {}
    if tl:
        seconds = (tl.get("seconds") or 0) + (tl.get("nanos") or 0) / 1e9
        # limits are set for C++; Python gets at least the default
        limits["time_limit_s"] = min(600.0, max(Problem.model_fields["time_limit_s"].default, seconds))
    if row.get("memory_limit_bytes"):
        limits["memory_limit_mb"] = min(65536, max(Problem.model_fields["memory_limit_mb"].default, int(row["memory_limit_bytes"]) // 2**20))
    return Problem(
        id=f"codecontests/{name}",
        prompt=f"{description.strip()}\n\nRead from standard input and print the answer to standard output.\n",
        entry_point=None,
        tests=tests,
        reference=normalise(reference) if reference else None,
        style="instruct",
        source="codecontests",
        **limits,
    )
