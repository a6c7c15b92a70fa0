"""What every adapter shares: a problem named in a dataset column, a completion judged by the program
rule, and the reward the RL stage would give it. Thin: the sandbox judges, ``codeprm.rl.rewards`` turns
verdicts and PRM scores into rewards; nothing here is a second implementation of either.

A *problem spec* is what a dataset row holds to say which problem a completion answers:

- ``"BENCHMARK#ID"``, e.g. ``"humaneval#HumanEval/0"`` or ``"synth:train#synth/12"`` (any
  ``load_benchmark`` name, ``#``, the problem's id);
- a ``Problem`` as a dict or as its JSON text (``Problem.model_dump_json()``), for problems of your own.
"""

from __future__ import annotations

import atexit
import functools
import json
import logging
import threading
from typing import Any

from pydantic import ValidationError

from codeprm.errors import CodeprmError
from codeprm.problems import Problem, load_benchmark
from codeprm.programs import program_text
from codeprm.sandbox import Result, Sandbox

log = logging.getLogger("codeprm.integrations")

SPEC_SEP = "#"


@functools.lru_cache(maxsize=16)
def _benchmark(name: str) -> dict[str, Problem]:
    return {p.id: p for p in load_benchmark(name)}


def problem_ref(benchmark: str, problem_id: str) -> str:
    """The spec string naming ``problem_id`` of ``benchmark`` (what a dataset column holds)."""
    return f"{benchmark}{SPEC_SEP}{problem_id}"


def resolve_problem(spec: Any) -> Problem:
    """The Problem a spec names (see the module docstring); a bad spec raises a one-line CodeprmError."""
    if isinstance(spec, Problem):
        return spec
    if isinstance(spec, (bytes, bytearray)):
        spec = spec.decode("utf-8", "replace")
    if isinstance(spec, str) and spec.lstrip().startswith("{"):
        try:
            spec = json.loads(spec)
        except json.JSONDecodeError as exc:
            raise CodeprmError(f"problem spec is not valid JSON ({exc.msg})") from None
    if isinstance(spec, dict):
        try:
            return Problem.model_validate(spec)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise CodeprmError(f"problem field '{'.'.join(map(str, err['loc'])) or '<problem>'}': {err['msg']}") from None
    if not isinstance(spec, str):
        raise CodeprmError(f"a problem spec is 'BENCHMARK#ID' or a Problem (dict/JSON), not {type(spec).__name__}")
    benchmark, sep, problem_id = spec.strip().rpartition(SPEC_SEP)
    if not sep or not benchmark or not problem_id:
        raise CodeprmError(f"problem spec {spec[:80]!r} is neither 'BENCHMARK#ID' nor a Problem's JSON")
    problems = _benchmark(benchmark)
    if problem_id not in problems:
        raise CodeprmError(f"benchmark '{benchmark}' has no problem {problem_id!r}")
    return problems[problem_id]


# ---------------------------------------------------------------------------------- shared sandbox
_sandbox: Sandbox | None = None
_sandbox_lock = threading.Lock()


def shared_sandbox(**options: Any) -> Sandbox:
    """One Sandbox per process for the adapters (verl, TRL), started on first use and closed at exit.
    ``options`` (SandboxConfig fields) apply only to the call that starts it."""
    global _sandbox
    with _sandbox_lock:
        if _sandbox is None:
            _sandbox = Sandbox(**options)
            atexit.register(close_shared_sandbox)
        return _sandbox


def close_shared_sandbox() -> None:
    global _sandbox
    with _sandbox_lock:
        if _sandbox is not None:
            _sandbox.close()
            _sandbox = None


# --------------------------------------------------------------------------------------- judging
def judge_many(items: list[tuple[Problem, str]], sandbox: Sandbox | None = None) -> list[Result]:
    """Judge completions (``program_text`` decides what runs); every sandbox worker busy."""
    sandbox = sandbox or shared_sandbox()
    return sandbox.run_many([(program_text(problem, completion), problem) for problem, completion in items])


def details(result: Result) -> dict[str, Any]:
    """The test details every adapter reports beside its score (flat, so loggers can average them)."""
    return {"passed": float(result.passed), "pass_rate": result.pass_rate, "status": result.status,
            "n_tests": len(result.tests), "infra_error": float(result.infra_error)}
