"""The real-sample workload of ``codeprm bench serve`` and ``codeprm bench ray``: CodeGen-16B HumanEval
completions (``../shared/data``), each made a self-checking program whose exit code is its verdict, so
it can run as SandboxFusion clients run code (stdout, exit code) or as one stdio test of the sandbox.
"""

from __future__ import annotations

import random
from pathlib import Path


DATA = Path(__file__).resolve().parents[4] / "shared" / "data" / "humaneval_codegen16b_t0.8_n100_samples.jsonl"  # ../shared beside the repo


def load_programs(samples_path: Path, requests: int, seed: int = 0) -> list[str]:
    """``requests`` self-checking programs from real samples (deterministic for a seed)."""
    from codeprm.problems.humaneval_layout import codet_humaneval_samples
    from codeprm.programs import program_text

    rows = codet_humaneval_samples(samples_path)
    pick = [(p, s) for p in range(len(rows)) for s in range(len(rows[p][1]))]
    random.Random(seed).shuffle(pick)
    return [program_text(rows[p][0], rows[p][1][s]) + "\n\n" + check_code(rows[p][0]) for p, s in pick[:requests]]


def check_code(problem) -> str:
    """Asserts over a problem's call tests (floats within 1e-6), so the program's exit code is its verdict."""
    lines = ["def _same(a, b):", "    if isinstance(a, float) or isinstance(b, float):",
             "        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and abs(a - b) <= 1e-6 * max(1.0, abs(b))",
             "    return a == b", ""]
    for t in problem.tests:
        if t.kind == "call":
            lines.append(f"assert _same({problem.entry_point}(*{t.args!r}, **{t.kwargs!r}), {t.expected!r})")
    return "\n".join(lines) + "\n"


def verdict_of_result(result) -> str:
    """A direct Sandbox.run's verdict in /run_code's terms: exit 0, exit non-zero, timeout, or the limit hit."""
    status = result.tests[0].status
    return {"pass": "exit0", "fail": "exit0", "runtime_error": "exit!=0", "syntax_error": "exit!=0", "timeout": "timeout"}.get(status, status)
