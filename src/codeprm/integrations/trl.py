"""TRL reward functions: ``f(prompts, completions, **columns) -> list[float | None]``.

    from codeprm.integrations.trl import outcome_reward, pass_rate_reward, prm_reward
    trainer = GRPOTrainer(model=..., reward_funcs=[outcome_reward, prm_reward("runs/prm")], train_dataset=ds)

The dataset needs a ``problem`` column holding a problem spec per row (``"humaneval#HumanEval/0"`` or a
Problem's JSON; see ``codeprm.integrations.core``). Completions may be plain text or TRL's conversational
form (a list of messages; the last one's ``content`` is judged). A sample whose sandbox run hit an
``infra_error`` gets ``None``, which TRL leaves out of the reward instead of scoring it 0.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Callable, Sequence

from codeprm.errors import CodeprmError
from codeprm.integrations.core import judge_many, resolve_problem
from codeprm.sandbox import Result

_CACHE_SIZE = 4096
_cache: "OrderedDict[tuple[str, str], Result]" = OrderedDict()
_cache_lock = threading.Lock()


def _text(completion: Any) -> str:
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content", ""))
    raise CodeprmError(f"a completion is text or a list of chat messages, not {type(completion).__name__}")


def _results(completions: Sequence[Any], problem: Sequence[Any] | None) -> list[Result]:
    """Judge each completion once (outcome and pass-rate rewards of one step share the runs)."""
    if problem is None:
        raise CodeprmError("the dataset needs a 'problem' column (a problem spec per row, e.g. 'humaneval#HumanEval/0')")
    if len(problem) != len(completions):
        raise CodeprmError(f"{len(completions)} completions but {len(problem)} problem specs")
    texts = [_text(c) for c in completions]
    keys = [(spec if isinstance(spec, str) else repr(spec), text) for spec, text in zip(problem, texts)]
    with _cache_lock:
        known = {k: _cache[k] for k in keys if k in _cache}
    todo = [i for i, k in enumerate(keys) if k not in known]
    fresh = judge_many([(resolve_problem(problem[i]), texts[i]) for i in todo]) if todo else []
    with _cache_lock:
        for i, result in zip(todo, fresh):
            known[keys[i]] = _cache[keys[i]] = result
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return [known[k] for k in keys]


def outcome_reward(prompts: Sequence[Any], completions: Sequence[Any], problem: Sequence[Any] | None = None,
                   **kwargs: Any) -> list[float | None]:
    """1.0 when every test passes, else 0.0 (None on an infra_error)."""
    return [None if r.infra_error else float(r.passed) for r in _results(completions, problem)]


def pass_rate_reward(prompts: Sequence[Any], completions: Sequence[Any], problem: Sequence[Any] | None = None,
                     **kwargs: Any) -> list[float | None]:
    """The share of tests passed (None on an infra_error)."""
    return [None if r.infra_error else r.pass_rate for r in _results(completions, problem)]


def prm_reward(prm: str | Any, aggregate: str = "min") -> Callable[..., list[float | None]]:
    """A reward function giving the PRM's score of each completion: the ``min`` (default, as best-of-N
    ranking uses it), ``mean`` or ``last`` of its line scores; None for a completion with no scored line.
    ``prm`` is a checkpoint directory or a loaded ``ProcessRewardModel``. Plain-text prompts are what the
    PRM reads before the completion; for conversational prompts it reads the problem's prompt."""
    if aggregate not in ("min", "mean", "last"):
        raise CodeprmError(f"aggregate must be min, mean or last, not {aggregate!r}")
    if isinstance(prm, str):
        from codeprm.prm.model import load_reward_model

        prm = load_reward_model(prm, mode="prm")
    reduce = {"min": min, "mean": lambda xs: sum(xs) / len(xs), "last": lambda xs: xs[-1]}[aggregate]

    def codeprm_prm(prompts: Sequence[Any], completions: Sequence[Any], problem: Sequence[Any] | None = None,
                    **kwargs: Any) -> list[float | None]:
        texts = [_text(c) for c in completions]
        heads = [p if isinstance(p, str) else resolve_problem(problem[i] if problem else None).prompt for i, p in enumerate(prompts)]
        scores = prm.score_many(heads, texts)
        return [reduce(s) if (s := [x for x in row if x is not None]) else None for row in scores]

    codeprm_prm.__name__ = f"codeprm_prm_{aggregate}"
    return codeprm_prm
