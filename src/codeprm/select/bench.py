"""``codeprm bench select``: every selection method on real samples with real generated tests.

Default data: CodeGen-Mono-16B's 100 samples per HumanEval problem and 100 generations of ``assert``
tests per problem by the same model (CodeT's release, ``../shared/data``). Reports pass@1 of each method
with a bootstrap 95% CI over problems, beside random (the unbiased pass@1 over all samples) and the
oracle (pass@n), and the share of the random->oracle gap each closes; the same at N = 10 and 50 samples
averaged over random subsets; the quality of the generated tests against the hidden ones; the cost.

Methods whose names start with ``public`` also run the samples on the public examples of the problem
statement (its docstring's examples, :mod:`codeprm.problems.examples`); the result names the best method
with and without them, and counts the examples (read, unreadable, wrong by the reference solution).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
from pydantic import Field

from codeprm.config import StrictModel
from codeprm.errors import CodeprmError
from codeprm.select.methods import uses_public
from codeprm.select.scoring import paired_diff_ci, score_methods

log = logging.getLogger(__name__)

DATA = Path(__file__).resolve().parents[4] / "shared" / "data"
EXECUTION_METHODS = ["maxpass", "codet", "codet_sqrt", "b4", "mbr", "mbr_soft", "codet+mbr", "b4+mbr"]
PUBLIC_METHODS = ["public", "public+codet", "public+b4", "public+mbr"]  # read the statement's examples
REWARD_METHODS = ["prm", "orm", "b4+prm", "codet+prm"]


class SelectBenchConfig(StrictModel):
    samples: str = Field(default=str(DATA / "humaneval_codegen16b_t0.8_n100_samples.jsonl"),
                         description="samples file (CodeT, human-eval or codeprm layout)")
    tests: str = Field(default=str(DATA / "humaneval_codegen16b_t0.8_n100_generated_tests.jsonl"),
                       description="generated assert tests (CodeT layout: prompt + generations after 'assert ')")
    benchmark: str = Field(default="humaneval", description="the problems the samples answer")
    limit: int | None = Field(default=None, ge=1, description="only the first LIMIT problems")
    cache: str = Field(default="runs/select/matrix.sqlite", description="SQLite file caching the execution matrix")
    ns: list[int] = Field(default=[10, 50], description="subset sizes N besides all samples")
    subsets: int = Field(default=20, ge=1, le=1000, description="random subsets averaged per problem at each N")
    seed: int = Field(default=0, description="seed of the subsets and the bootstrap")
    hidden_time_limit_s: float = Field(default=1.0, gt=0, le=60, description="CPU seconds per hidden test (the slowest HumanEval reference test took 0.16 s on a loaded machine)")
    plausible_time_limit_s: float = Field(default=0.25, gt=0, le=60, description="CPU seconds per generated test (small inputs; B4 used 0.1 s)")
    max_timeouts: int = Field(default=3, ge=1, description="a program's generated tests stop after this many timeouts")
    scores: str | None = Field(default=None, description="JSONL of reward-model scores {task_id, sample_index, prm?, orm?}")
    public: bool = Field(default=True, description="also run the samples on the docstring's public examples and score the public* methods")


def load_inputs(config: SelectBenchConfig):
    """Problems, completions, parsed tests and their statistics."""
    from codeprm.evaluate.external import load_samples
    from codeprm.problems import load_benchmark
    from codeprm.select.plausible import parse_generations

    problems = load_benchmark(config.benchmark)
    if config.limit:
        problems = problems[: config.limit]
    for path in (config.samples, config.tests):
        if not Path(path).is_file():
            raise CodeprmError(f"data file not found: {path} (see ../shared/data/README.md)")
    all_problems = load_benchmark(config.benchmark)
    samples = load_samples(config.samples, all_problems)
    generated = load_samples(config.tests, all_problems)
    for line in samples.errors + generated.errors:
        log.warning("%s", line)
    tests, stats = {}, {}
    for p in problems:
        parsed = parse_generations(generated.completions.get(p.id, []), p.entry_point or "")
        tests[p.id] = parsed.tests
        for key, value in parsed.as_dict().items():
            stats[key] = stats.get(key, 0) + value
    return problems, samples.completions, tests, stats


def load_public(problems) -> tuple[dict, dict]:
    """Each problem's public examples (of its entry point) and counts of what was read."""
    from codeprm.problems.examples import docstring_examples

    public, stats = {}, {"problems": len(problems), "problems_with_examples": 0, "examples": 0,
                         "unreadable": 0, "of_other_functions": 0}
    for p in problems:
        found = docstring_examples(p.prompt, {p.entry_point or ""})
        public[p.id] = found.of(p.entry_point or "")
        stats["problems_with_examples"] += bool(public[p.id])
        stats["examples"] += len(public[p.id])
        stats["unreadable"] += len(found.unparsed)
        stats["of_other_functions"] += sum(e.name != p.entry_point for e in found.found)
    return public, stats


def load_scores(path: str | None) -> dict[str, dict[str, np.ndarray]]:
    """Reward-model scores per problem: {task_id: {"prm": array, "orm": array}} by sample index."""
    if not path:
        return {}
    from codeprm.evaluate.external import read_rows

    table: dict[str, dict[str, dict[int, float]]] = {}
    for lineno, row, error in read_rows(Path(path)):
        if row is None or "task_id" not in row or "sample_index" not in row:
            raise CodeprmError(f"{path}:{lineno}: {error or 'needs task_id and sample_index'}")
        for name in ("prm", "orm"):
            if name in row:
                table.setdefault(str(row["task_id"]), {}).setdefault(name, {})[int(row["sample_index"])] = float(row[name])
    return {pid: {name: np.array([v[i] for i in sorted(v)]) for name, v in d.items()} for pid, d in table.items()}


def run_bench(config: SelectBenchConfig, progress=None) -> dict:
    from codeprm.sandbox import Sandbox
    from codeprm.select.execute import Cache
    from codeprm.select.matrix import Limits, build_matrices

    start = time.monotonic()
    problems, completions, tests, parse_stats = load_inputs(config)
    public, public_stats = load_public(problems) if config.public else (None, {})
    limits = Limits(hidden_time_limit_s=config.hidden_time_limit_s, plausible_time_limit_s=config.plausible_time_limit_s,
                    max_timeouts=config.max_timeouts)
    cache = Cache(config.cache)
    references = {p.id: [p.reference] for p in problems if p.reference is not None}
    try:
        with Sandbox() as sandbox:
            matrices, cost = build_matrices(problems, completions, tests, sandbox, cache, limits, progress, public)
            ref_matrices, ref_cost = build_matrices(problems, references, tests, sandbox, cache, limits, public=public)
        fills = cache.fills()
    finally:
        cache.close()
    extras = load_scores(config.scores)
    methods = EXECUTION_METHODS + (PUBLIC_METHODS if config.public else []) + [m for m in REWARD_METHODS if extras and all(
        name in extras.get(mx.problem_id, {}) for mx in matrices for name in ({"prm"} if "prm" in m else {"orm"}))]
    tables = {"all": score_methods(matrices, methods, None, 1, config.seed, extras)}
    for n in config.ns:
        tables[str(n)] = score_methods(matrices, methods, n, config.subsets, config.seed, extras)
    full = tables["all"]
    candidates = [m for m in methods if m not in ("random", "oracle")]
    best = max(candidates, key=lambda m: full[m]["pass1"])
    best_closed = max((m for m in candidates if not uses_public(m)), key=lambda m: full[m]["pass1"])
    sensitivity = _b4_sensitivity(matrices, config.seed)
    result = {
        "data": {"samples": Path(config.samples).name, "tests": Path(config.tests).name, "benchmark": config.benchmark,
                 "problems": len(matrices), "samples": int(sum(m.n_samples for m in matrices)),
                 "distinct_programs": int(sum(len(m.programs) for m in matrices)), "generated_tests": parse_stats},
        "random_pass1": full["random"]["pass1"],
        "oracle_pass1": full["oracle"]["pass1"],
        "codet_pass1": full["codet"]["pass1"],
        "b4_pass1": full["b4"]["pass1"],
        "mbr_pass1": full["mbr"]["pass1"],
        "best_method": best,
        "best_pass1": full[best]["pass1"],
        "best_ci95": full[best]["ci95"],
        "best_minus_codet_ci95": [round(v, 4) for v in paired_diff_ci(full[best]["per_problem"], full["codet"]["per_problem"], config.seed)],
        "best_uses_public_examples": uses_public(best),
        "best_without_public_method": best_closed,
        "best_without_public_pass1": full[best_closed]["pass1"],
        "best_without_public_ci95": full[best_closed]["ci95"],
        "best_minus_best_without_public_ci95": [round(v, 4) for v in paired_diff_ci(full[best]["per_problem"], full[best_closed]["per_problem"], config.seed)],
        "b4_minus_codet_ci95": [round(v, 4) for v in paired_diff_ci(full["b4"]["per_problem"], full["codet"]["per_problem"], config.seed)],
        "tables": {n: {m: {k: v for k, v in row.items() if k != "per_problem"} for m, row in t.items()} for n, t in tables.items()},
        "b4_sensitivity": sensitivity,
        "test_quality": _test_quality(matrices, ref_matrices),
        "public_examples": _public_quality(matrices, ref_matrices, public_stats) if config.public else None,
        "cost": {"this_run": {"samples": cost.as_dict(), "references": ref_cost.as_dict(),
                              "total_seconds": round(time.monotonic() - start, 1)},
                 "cache_fills": fills,  # every run that executed cells into this cache, in order
                 "cache_fill_total": {key: round(sum(f.get(key, 0) for f in fills), 1)
                                      for key in ("runs", "cells", "seconds", "timeouts", "skipped")}},
        "not_measured": [] if extras else ["prm, orm, b4+prm, codet+prm: no reward-model scores given (--scores FILE)"],
        "config": config.model_dump(),
    }
    result["goals"] = {
        "codet_ge_random_plus_7": result["codet_pass1"] >= result["random_pass1"] + 0.07,
        "b4_ge_codet": result["b4_pass1"] >= result["codet_pass1"],
        "best_ge_random_plus_10": result["best_pass1"] >= result["random_pass1"] + 0.10,
        "best_ci_low_above_codet": result["best_ci95"][0] > result["codet_pass1"],
        "best_without_public_ci_low_above_codet": result["best_without_public_ci95"][0] > result["codet_pass1"],
    }
    return result


def _b4_sensitivity(matrices, seed: int) -> dict[str, float]:
    """B4 at the priors its authors sweep (beta_0 in 1e4..1e6, alpha_xy 1e3); the default is 1e5, fixed
    before looking at this data."""
    from codeprm.select.methods import b4_scores, expected_pass

    out = {}
    for beta_0 in (1e4, 1e5, 1e6):
        vals = [expected_pass(b4_scores(m.arrays()["passes"], beta_0=beta_0), m.arrays()["correct"]) for m in matrices]
        out[f"beta_0={beta_0:g}"] = round(float(np.mean(vals)), 4)
    return out


def _test_quality(matrices, ref_matrices) -> dict:
    """How good the generated tests are, judged by the hidden ones (AceCoder / CodeContests+ style): the
    share of claims the reference passes, and how many wrong samples the valid claims reject."""
    refs = {m.problem_id: m for m in ref_matrices}
    claims = valid = 0
    problems_with_valid = 0
    wrong = rejected = right = kept = 0
    for m in matrices:
        ref = refs.get(m.problem_id)
        if ref is None or not m.passes.shape[1]:
            continue
        ok = ref.passes[0]
        claims += ok.size
        valid += int(ok.sum())
        problems_with_valid += bool(ok.any())
        arrays = m.arrays()
        fails_valid = ~arrays["passes"][:, ok].all(axis=1) if ok.any() else np.zeros(m.n_samples, dtype=bool)
        wrong += int((~arrays["correct"]).sum())
        rejected += int((fails_valid & ~arrays["correct"]).sum())
        right += int(arrays["correct"].sum())
        kept += int((~fails_valid & arrays["correct"]).sum())
    return {
        "claims": claims,
        "claims_reference_passes": round(valid / claims, 4) if claims else None,
        "problems_with_a_valid_claim": problems_with_valid,
        "wrong_samples_rejected_by_valid_claims": round(rejected / wrong, 4) if wrong else None,
        "correct_samples_passing_valid_claims": round(kept / right, 4) if right else None,
    }


def _public_quality(matrices, ref_matrices, stats: dict) -> dict:
    """The public examples judged by the reference solution (an example it fails is wrong in the statement,
    or needs a comparison looser than ``==``), and how the filter treats the samples."""
    refs = {m.problem_id: m for m in ref_matrices}
    wrong, wrong_problems, none_pass, right, kept, wrong_samples, rejected = [], 0, 0, 0, 0, 0, 0
    for m in matrices:
        ref, arrays = refs.get(m.problem_id), m.arrays()
        if m.public is None or not m.public.shape[1]:
            continue
        if ref is not None:
            bad = [i for i, ok in enumerate(ref.public[0]) if not ok]
            wrong += [f"{m.problem_id}: {m.examples[i].args} -> {m.examples[i].expected!r}" for i in bad]
            wrong_problems += bool(bad)
        passing = arrays["public"].all(axis=1)
        none_pass += not passing.any()
        right += int(arrays["correct"].sum())
        kept += int((passing & arrays["correct"]).sum())
        wrong_samples += int((~arrays["correct"]).sum())
        rejected += int((~passing & ~arrays["correct"]).sum())
    return {**stats, "wrong_by_reference": len(wrong), "problems_with_a_wrong_example": wrong_problems,
            "wrong_examples": wrong, "problems_where_no_sample_passes_all": none_pass,
            "correct_samples_passing_all": round(kept / right, 4) if right else None,
            "wrong_samples_failing_one": round(rejected / wrong_samples, 4) if wrong_samples else None}
