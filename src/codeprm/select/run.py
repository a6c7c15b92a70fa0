"""The jobs behind ``codeprm select`` and ``codeprm tests generate``.

``select``: samples + generated tests -> the execution matrix (cached) -> one sample per problem by the
chosen method. The pick is the first sample of the top-scored set; its pass@1 is scored as the expected
value over that set (ties), beside random and oracle, with a bootstrap 95% CI over problems.

``generate_tests``: CodeT's recipe for plausible tests: the prompt, a ``pass`` stub, a comment naming the
function and ``assert ``; the policy continues it.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import Field, field_validator

from codeprm.config import StrictModel
from codeprm.errors import CodeprmError
from codeprm.select.methods import METHODS, needs, top_set


class SelectConfig(StrictModel):
    samples: str = Field(description="samples file: CodeT {prompt, samples}, {task_id, completion}, or codeprm's samples.jsonl")
    tests: str | None = Field(default=None, description="generated tests: CodeT layout, generations that continue 'assert '")
    method: str = Field(default="b4", description="selection method (see codeprm.select.methods.METHODS)")
    benchmark: str = Field(default="humaneval", description="the problems the samples answer")
    limit: int | None = Field(default=None, ge=1, description="only the first LIMIT problems")
    scores: str | None = Field(default=None, description="JSONL of reward-model scores {task_id, sample_index, prm?, orm?}")
    cache: str = Field(default="runs/select/matrix.sqlite", description="SQLite file caching the execution matrix")
    seed: int = Field(default=0, description="bootstrap seed")
    hidden_time_limit_s: float = Field(default=1.0, gt=0, le=60, description="CPU seconds per hidden test (the slowest HumanEval reference test took 0.16 s on a loaded machine)")
    plausible_time_limit_s: float = Field(default=0.25, gt=0, le=60, description="CPU seconds per generated test (small inputs; B4 used 0.1 s)")

    @field_validator("method")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in METHODS:
            raise ValueError(f"unknown method '{value}'; known: {', '.join(METHODS)}")
        return value


def select(config: SelectConfig, out: Path | None = None, progress=None) -> dict:
    from codeprm.evaluate.external import load_samples
    from codeprm.problems import load_benchmark
    from codeprm.sandbox import Sandbox
    from codeprm.select.bench import load_scores
    from codeprm.select.execute import Cache
    from codeprm.select.matrix import Limits, build_matrices
    from codeprm.select.plausible import parse_generations
    from codeprm.select.scoring import score_methods

    wanted = needs(config.method)
    if "passes" in wanted and not config.tests:
        raise CodeprmError(f"method '{config.method}' needs generated tests: --tests FILE")
    problems = load_benchmark(config.benchmark)
    samples = load_samples(config.samples, problems)
    generated = load_samples(config.tests, problems) if config.tests else None
    for line in samples.errors + (generated.errors if generated else []):
        print(f"skipped: {line}")
    problems = [p for p in problems if p.id in samples.completions][: config.limit]
    tests, dropped = {}, {"unparsed": 0, "not_call": 0}
    for p in problems if generated else []:
        parsed = parse_generations(generated.completions.get(p.id, []), p.entry_point or "")
        tests[p.id] = parsed.tests
        dropped = {k: dropped[k] + getattr(parsed, k) for k in dropped}
    if any(dropped.values()):
        print(f"{config.tests}: {dropped['unparsed']} assert lines do not parse (cut off, not Python) and "
              f"{dropped['not_call']} are not f(literals) == literal; they are left out, the rest are used")
    extras = load_scores(config.scores)
    missing = [name for name in ("prm", "orm") if name in wanted and not all(name in extras.get(p.id, {}) for p in problems)]
    if missing:
        raise CodeprmError(f"method '{config.method}' needs '{missing[0]}' scores for every problem: --scores FILE")
    public = None
    if "public" in wanted:  # the problem statement's own examples, run apart from the generated tests
        from codeprm.select.bench import load_public

        public, counts = load_public(problems)
        print(f"public examples: {counts['examples']} in {counts['problems_with_examples']} of {counts['problems']} "
              f"problems ({counts['unreadable']} example-like lines not read)")
    cache = Cache(config.cache)
    try:
        with Sandbox() as sandbox:
            matrices, cost = build_matrices(problems, samples.completions, tests, sandbox, cache,
                                            Limits(hidden_time_limit_s=config.hidden_time_limit_s,
                                                   plausible_time_limit_s=config.plausible_time_limit_s), progress,
                                            public)
    finally:
        cache.close()
    rows = []
    for m in matrices:
        arrays = m.arrays(extra=extras.get(m.problem_id))
        scores = METHODS[config.method](arrays)
        top = top_set(scores)
        pick = int(top.argmax())
        rows.append({"task_id": m.problem_id, "sample_index": pick, "completion": samples.completions[m.problem_id][pick],
                     "score": float(scores[pick]), "tied": int(top.sum()), "tied_correct": int(arrays["correct"][top].sum()),
                     "passed": bool(arrays["correct"][pick])})
    table = score_methods(matrices, [config.method], seed=config.seed, extras=extras)
    summary = {"method": config.method, "problems": len(matrices), "samples": int(sum(m.n_samples for m in matrices)),
               "table": {k: {f: v for f, v in row.items() if f != "per_problem"} for k, row in table.items()},
               "cost": cost.as_dict(), "bad_rows": len(samples.errors)}
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "selected.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


class TestsConfig(StrictModel):
    __test__ = False  # not a pytest test class

    policy: str = Field(default="embedded", description="policy spec: embedded, tiny, hf:PATH, openai:URL")
    benchmark: str = Field(default="humaneval", description="benchmark name, see load_benchmark")
    samples: int = Field(default=10, ge=1, le=1000, description="generations per problem")
    limit: int | None = Field(default=None, ge=1, description="only the first LIMIT problems")
    temperature: float = Field(default=0.8, ge=0.0, le=5.0, description="0 = greedy (CodeT: 0.8)")
    top_p: float = Field(default=0.95, gt=0.0, le=1.0, description="nucleus sampling mass (CodeT: 0.95)")
    max_new_tokens: int = Field(default=300, ge=1, le=32768, description="generation budget (CodeT: 300)")
    seed: int = Field(default=0, description="sampling seed")


def stub_prompt(prompt: str, entry_point: str) -> str:
    """CodeT's test-generation prompt: the function with a ``pass`` body, then ``assert ``."""
    return prompt.rstrip() + "\n    pass\n\n# check the correctness of " + entry_point + "\nassert "


def generate_tests(config: TestsConfig, out: Path) -> dict:
    from codeprm.policy.registry import load_policy
    from codeprm.problems import load_benchmark
    from codeprm.select.plausible import parse_generations

    problems = load_benchmark(config.benchmark)[: config.limit]
    bad = [p.id for p in problems if p.style != "completion" or not p.entry_point]
    if bad:
        raise CodeprmError(f"tests generate needs completion-style problems with an entry point; {bad[0]} is not")
    policy = load_policy(config.policy)
    prompts = [stub_prompt(p.prompt, p.entry_point or "") for p in problems]
    generations = policy.generate(prompts, n=config.samples, temperature=config.temperature, top_p=config.top_p,
                                  max_new_tokens=config.max_new_tokens, seed=config.seed)
    stats: dict[str, int] = {}
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as fh:
        for problem, prompt, gens in zip(problems, prompts, generations):
            texts = [g.text for g in gens]
            fh.write(json.dumps({"task_id": problem.id, "prompt": prompt, "samples": texts}) + "\n")
            for key, value in parse_generations(texts, problem.entry_point or "").as_dict().items():
                stats[key] = stats.get(key, 0) + value
    return stats
