"""``codeprm bench sandbox --language cpp``: HumanEval-X canonical solutions (and mutants) through codeprm
and through a plain harness (compile and run in a fresh process per sample, exit status decides).

codeprm runs cold (empty compile cache) and then warm (the same samples again: every compile a cache
hit); compile time is reported apart. CPU is this process, its reaped children (compilers, the plain
harness's programs) and the zygotes (``bench._cpu_s``): a cost that other users' load does not inflate.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from codeprm.problems.model import Problem
from codeprm.sandbox.bench import _cpu_s
from codeprm.sandbox.native import LANGUAGES, _libcrypto

# operator swaps and constant changes (a mutant differs from the canonical solution in one place)
_SWAPS = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "==": "!=", "!=": "==", "+": "-", "-": "+", "&&": "||", "||": "&&"}
_TOKEN = re.compile(r"<<|>>|->|\+\+|--|<=|>=|==|!=|&&|\|\||[<>+\-]|\b\d+\b")


def mutants(solution: str, n: int, rng: random.Random) -> list[str]:
    """Up to ``n`` distinct single-site mutants of ``solution`` (an operator swapped or a constant + 1)."""
    if n <= 0:
        return []
    sites = [m for m in _TOKEN.finditer(solution) if m.group() in _SWAPS or m.group().isdigit()]
    rng.shuffle(sites)
    out: list[str] = []
    for m in sites:
        tok = m.group()
        new = str(int(tok) + 1) if tok.isdigit() else _SWAPS[tok]
        text = solution[:m.start()] + new + solution[m.end():]
        if text not in out:
            out.append(text)
        if len(out) == n:
            break
    return out


def plain_judge(language: str, source: str, timeout_s: float = 10.0) -> bool:
    """The reference harness: compile to an executable and run it in a fresh process; exit 0 passes."""
    spec = LANGUAGES[language]
    work = tempfile.mkdtemp(prefix="codeprm-plain-")
    try:
        src = os.path.join(work, ("Main" if language == "java" else "main") + spec["suffix"])
        with open(src, "w") as fh:
            fh.write(source)
        if language == "java":  # javac, then `java -cp . Main` (the JVM's defaults, as a user would run it)
            build = ["javac", "-encoding", "UTF-8", "-nowarn", "-d", work, src]
            run = ["java", "-cp", work, "Main"]
        else:
            build = [spec["compiler"], *spec["flags"], src, "-o", os.path.join(work, "main"), "-lm",
                     *(["-Wl,--as-needed", "-lcrypto"] if _libcrypto() else [])]  # as codeprm links (CPP/162: MD5)
            run = [os.path.join(work, "main")]
        built = subprocess.run(build, capture_output=True, timeout=120)
        if built.returncode != 0:
            return False
        try:
            return subprocess.run(run, capture_output=True, timeout=timeout_s, cwd=work).returncode == 0
        except subprocess.TimeoutExpired:
            return False
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _plain(language: str, programs: list[str], workers: int) -> tuple[list[bool], float, float]:
    cpu0, start = _cpu_s([]), time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        oks = list(pool.map(lambda src: plain_judge(language, src), programs))
    return oks, time.perf_counter() - start, _cpu_s([]) - cpu0


def _codeprm(sb, pairs: list[tuple[str, Problem]]) -> tuple[list, float, float]:
    zygotes = [z.proc.pid for z in sb._workers if z.proc is not None]
    cpu0, start = _cpu_s(zygotes), time.perf_counter()
    results = sb.run_many(pairs)
    return results, time.perf_counter() - start, _cpu_s(zygotes) - cpu0


def run_language_bench(language: str, workers: int, mutants_per_problem: int = 0, limit: int | None = None,
                       seed: int = 0, isolation: str = "full",
                       progress: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    from codeprm.problems import humaneval_x
    from codeprm.sandbox import Sandbox

    problems = humaneval_x.load(language)[:limit]
    pairs = [(p.reference_program, p) for p in problems]
    out: dict[str, Any] = {"language": language, "workers": workers, "isolation": isolation, "cpus": os.cpu_count(),
                           "load_avg_start": os.getloadavg()[0]}
    with Sandbox(workers=workers, isolation=isolation, languages=["python", language]) as sb:
        progress(f"{language}: codeprm, cold compile cache")
        cold, cold_s, cold_cpu = _codeprm(sb, pairs)
        progress(f"{language}: codeprm, warm compile cache")
        warm, warm_s, warm_cpu = _codeprm(sb, pairs)
        compile_s = [c.time_s for c in sb.compiler().cache.values()]
        rng = random.Random(seed)
        mutated = [(p.program(m), p) for p in problems for m in mutants(p.reference or "", mutants_per_problem, rng)]
        verdicts = []
        if mutated:
            progress(f"{language}: codeprm on {len(mutated)} mutants")
            verdicts = [r.passed for r in sb.run_many(mutated)]
    progress(f"{language}: plain harness")
    plain_ok, plain_s, plain_cpu = _plain(language, [p + "\n" + pr.tests[0].code for p, pr in pairs], workers)
    n = len(pairs)
    failures = [{"id": p.id, "status": r.status, "detail": (r.tests[0].detail + " " + r.tests[0].stderr).strip()[:300],
                 "plain_passed": ok} for (_, p), r, ok in zip(pairs, cold, plain_ok) if not r.passed]
    out.update({
        "samples": n, "pass_rate_canonical": sum(r.passed for r in cold) / n,
        "plain_pass_rate_canonical": sum(plain_ok) / n,
        "canonical_agreement_vs_plain": sum(r.passed == ok for r, ok in zip(cold, plain_ok)) / n,
        "warm_equals_cold": [r.passed for r in warm] == [r.passed for r in cold],
        "samples_per_s_cold": n / cold_s, "samples_per_s": n / warm_s, "plain_samples_per_s": n / plain_s,
        "speedup_vs_plain": (n / warm_s) / (n / plain_s), "speedup_vs_plain_cold": (n / cold_s) / (n / plain_s),
        "cpu_ms_per_sample_cold": cold_cpu / n * 1000, "cpu_ms_per_sample_warm": warm_cpu / n * 1000,
        "plain_cpu_ms_per_sample": plain_cpu / n * 1000,
        "compile_s_mean": sum(compile_s) / max(1, len(compile_s)), "compile_s_max": max(compile_s, default=0.0),
        "failures": failures, "load_avg_end": os.getloadavg()[0],
    })
    if mutated:
        progress(f"{language}: plain harness on {len(mutated)} mutants")
        plain_mut, _, _ = _plain(language, [p + "\n" + pr.tests[0].code for p, pr in mutated], workers)
        agree = [a == b for a, b in zip(verdicts, plain_mut)]
        out.update({"mutants": len(mutated), "mutants_passed": sum(verdicts), "agreement_vs_plain": sum(agree) / len(agree),
                    "mutant_disagreements": [{"id": pr.id, "codeprm": a, "plain": b} for (_, pr), a, b
                                             in zip(mutated, verdicts, plain_mut) if a != b][:50]})
    else:
        out.update({"mutants": 0, "agreement_vs_plain": out["canonical_agreement_vs_plain"]})
    return out


def print_language_bench(language: str, workers: int, mutants_per_problem: int, limit: int | None, seed: int,
                         isolation: str, json_path=None) -> dict[str, Any]:
    """Run the bench, print it, and merge this language's entry into ``json_path`` (one key per language)."""
    import json
    from pathlib import Path

    from rich.console import Console

    console = Console(stderr=True)
    out = run_language_bench(language, workers, mutants_per_problem, limit, seed, isolation, progress=console.print)
    Console().print(
        f"{language}: {out['samples']} canonical solutions, pass rate {out['pass_rate_canonical']:.4f} "
        f"(plain harness {out['plain_pass_rate_canonical']:.4f}); codeprm {out['samples_per_s_cold']:.2f} samples/s cold, "
        f"{out['samples_per_s']:.1f} warm vs plain {out['plain_samples_per_s']:.2f} ({out['speedup_vs_plain_cold']:.2f}x cold, "
        f"{out['speedup_vs_plain']:.1f}x warm); CPU ms/sample {out['cpu_ms_per_sample_cold']:.0f} cold, "
        f"{out['cpu_ms_per_sample_warm']:.1f} warm vs plain {out['plain_cpu_ms_per_sample']:.0f}; compile {out['compile_s_mean']:.2f} s mean; "
        f"agreement vs plain {out['agreement_vs_plain']:.4f} ({out['mutants']} mutants)")
    for f in out["failures"]:
        Console().print(f"  failed: {f['id']} {f['status']} (plain harness {'passes' if f['plain_passed'] else 'fails'}): {f['detail'][:160]}")
    if json_path is not None:
        path = Path(json_path)
        data = json.loads(path.read_text()) if path.is_file() else {}
        data[language] = out
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2) + "\n")
    return out
