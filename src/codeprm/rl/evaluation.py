"""Held-out evaluation during RL: the mean pass rate over ``eval_samples`` samples per problem (or one
greedy decode), with per-problem pass counts kept for hierarchical bootstrap intervals."""

from __future__ import annotations

from typing import Sequence

import torch

from codeprm.problems import Problem
from codeprm.programs import program_text
from codeprm.rl.components import Verifier
from codeprm.rl.config import RLConfig
from codeprm.device import Placement


@torch.no_grad()
def evaluate_set(policy, problems: Sequence[Problem], verifier: Verifier, config: RLConfig, place: Placement) -> dict:
    """``{"pass1": mean pass rate, "passes": [c_i], "judged": [n_i], "ids": [...], "infra_errors": k}``.

    One greedy decode per problem when ``eval_samples`` is 1, else ``eval_samples`` samples at the
    rollout temperature from the fixed ``eval_seed``. Infra errors are left out of a problem's
    denominator (never scored as failures); the mean is over problems with at least one judged sample."""
    n = config.eval_samples
    sampled = n > 1
    prompts = [policy.prompt_for(p) for p in problems]
    with place.autocast():
        outs = policy.generate(prompts, n=n, temperature=config.temperature if sampled else 0.0, top_p=config.top_p,
                               max_new_tokens=config.max_new_tokens, stop=policy.default_stop(problems[0]),
                               seed=config.eval_seed if sampled else None)
    flat = [(p, c.text) for p, cs in zip(problems, outs) for c in cs]
    results = verifier([p for p, _ in flat], [program_text(p, t) for p, t in flat], False)
    passes, judged = [0] * len(problems), [0] * len(problems)
    for k, r in enumerate(results):
        i = k // n
        if not r.infra_error:
            judged[i] += 1
            passes[i] += int(r.passed)
    rates = [c / j for c, j in zip(passes, judged) if j]
    return {"pass1": sum(rates) / max(1, len(rates)), "passes": passes, "judged": judged, "ids": [p.id for p in problems],
            "infra_errors": sum(r.infra_error for r in results)}


def evaluate(policy, sets: dict[str, Sequence[Problem]], verifier: Verifier, config: RLConfig, place: Placement) -> tuple[dict, dict]:
    """Every held-out set: a metrics row (``eval_pass1``, ``eval_unseen_pass1``, ...) and the per-problem detail."""
    row, detail = {}, {}
    for name, problems in sets.items():
        res = evaluate_set(policy, problems, verifier, config, place)
        key = "eval" if name == "heldout" else f"eval_{name}"
        row[f"{key}_pass1"] = res["pass1"]
        row[f"{key}_infra_errors"] = res["infra_errors"]
        detail[name] = res
    return row, detail


def evaluate_pass1(policy, problems: Sequence[Problem], verifier: Verifier, config: RLConfig, place: Placement | None = None) -> dict:
    """One held-out set's ``{"eval_pass1", "eval_infra_errors"}`` (the metrics row's keys)."""
    from codeprm.device import resolve_placement

    res = evaluate_set(policy, problems, verifier, config, place or resolve_placement("cpu", "fp32"))
    return {"eval_pass1": res["pass1"], "eval_infra_errors": res["infra_errors"]}
