"""verl adapters: a custom reward function and a reward manager with PRM line rewards.

Outcome only (verl's ``custom_reward_function``)::

    custom_reward_function.path=$(python -c "import codeprm.integrations.verl as m; print(m.__file__)")
    custom_reward_function.name=compute_score

Dense line rewards (verl 0.9's reward loop; the file also registers ``codeprm`` in verl's registries)::

    reward.reward_manager.source=importlib reward.reward_manager.name=CodeprmRewardManager
    reward.reward_manager.module.path=<this file> +reward.reward_kwargs.prm=runs/prm

Each dataset row's ``reward_model.ground_truth`` is a problem spec (``"humaneval#HumanEval/0"`` or a
Problem's JSON, see ``codeprm.integrations.core``). The manager judges the whole batch at once in the
sandbox, puts the outcome reward on the last response token and each non-neutral line's PRM reward on
the token covering the line's last character (``codeprm.lines``), exactly as ``codeprm rl`` does
(``codeprm.rl.rewards``); verl's GAE then reads them as ordinary token-level scores.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any

import torch

from codeprm.config import build
from codeprm.integrations.core import details, judge_many, resolve_problem
from codeprm.rl import rewards as rw
from codeprm.rl.config import RewardConfig


def reward_config(options: dict[str, Any]) -> RewardConfig:
    """``RewardConfig`` from keyword options (verl's ``reward_kwargs``); unknown keys are a one-line error."""
    return build(RewardConfig, {}, dict(options), "reward options")


def compute_score(data_source: str, solution_str: str, ground_truth: Any, extra_info: dict | None = None, **kwargs: Any) -> dict:
    """verl's custom reward function: the outcome reward of ``solution_str`` on the problem named by
    ``ground_truth``, with the test details (``passed``, ``pass_rate``, ``n_tests``, ``infra_error``).
    ``kwargs`` are RewardConfig fields (e.g. ``outcome="pass_rate"``)."""
    cfg = reward_config(kwargs)
    result = judge_many([(resolve_problem(ground_truth), solution_str)])[0]
    return {"score": rw.outcome_reward(result, cfg), **details(result)}


def _rows(data) -> list[dict[str, Any]]:
    """Per sample of a verl batch: prompt/response token ids (padding removed) and the ground truth."""
    prompts, responses, attention = data.batch["prompts"], data.batch["responses"], data.batch["attention_mask"]
    width = prompts.shape[-1]
    rows = []
    for i in range(len(data)):
        prompt_len = int(attention[i, :width].sum())
        response_len = int(attention[i, width:].sum())
        rm = data.non_tensor_batch["reward_model"][i]
        rows.append({"prompt_ids": prompts[i, width - prompt_len:].tolist(), "response_ids": responses[i, :response_len].tolist(),
                     "ground_truth": rm["ground_truth"]})
    return rows


def token_rewards(data, tokenizer, cfg: RewardConfig, prm=None) -> tuple[torch.Tensor, dict[str, list]]:
    """(B, R) rewards for a verl batch (R = response width) and the per-sample details."""
    rows = _rows(data)
    decode = lambda ids: tokenizer.decode(ids, skip_special_tokens=True)  # noqa: E731
    prompt_texts = [decode(r["prompt_ids"]) for r in rows]
    texts = [decode(r["response_ids"]) for r in rows]
    problems = [resolve_problem(r["ground_truth"]) for r in rows]
    results = judge_many(list(zip(problems, texts)))
    if prm is not None:
        with _prm_lock:  # the reward loop calls this from several threads
            line_scores = prm.score_many(prompt_texts, texts)
    else:
        line_scores = None
    out = torch.zeros(data.batch["responses"].shape, dtype=torch.float32)
    info: dict[str, list] = defaultdict(list)
    for b, (row, text, result) in enumerate(zip(rows, texts, results)):
        ids = row["response_ids"]
        spans = rw.line_spans(text)
        char_ends = rw.token_char_ends(tokenizer, ids, row["prompt_ids"][-4:])  # a few prompt tokens: SentencePiece spaces
        line_rewards = None if line_scores is None else rw.line_rewards_from_scores(line_scores[b], result.passed, cfg)
        shaped = rw.shape_sample(len(ids), out.shape[1], rw.outcome_reward(result, cfg), spans,
                                 rw.line_end_tokens(char_ends, spans), line_rewards, None)
        out[b] = shaped.token_rewards
        for key, value in {"score": shaped.outcome, **details(result), "line_rewards": float(len(shaped.line_rewards))}.items():
            info[key].append(value)
    return out, info


def _register(registry_module: str, base_module: str, base_name: str, make):
    """Register ``make(base)`` as ``codeprm`` in one of verl's reward-manager registries (imported here
    only). A second copy of this file (verl loads ``module.path`` files under another name) reuses the
    class already registered instead of failing on the duplicate name."""
    import importlib

    registry = importlib.import_module(registry_module)
    table = getattr(importlib.import_module(registry_module + ".registry"), "REWARD_MANAGER" if "reward_loop" in registry_module
                    else "REWARD_MANAGER_REGISTRY")
    if getattr(table.get("codeprm"), "_codeprm", False):
        return table["codeprm"]
    cls = make(getattr(importlib.import_module(base_module), base_name))
    cls._codeprm = True
    return registry.register("codeprm")(cls)


_prm_lock = threading.Lock()


def _load_prm(path: str | None):
    from codeprm.prm.model import load_reward_model

    return load_reward_model(path, mode="prm") if path else None


def _loop_manager(base):
    class CodeprmRewardManager(base):
        """verl's reward loop (0.9+): one sample per ``run_single``; its (R,) token rewards are the
        ``reward_score`` and ``assemble_rm_scores`` stacks them into ``rm_scores``. Options come from
        ``reward.reward_kwargs`` (``prm`` and any RewardConfig field)."""

        def __init__(self, config, tokenizer, compute_score=None, **unused: Any):
            super().__init__(config, tokenizer, compute_score)
            options = dict(config.get("reward", {}).get("reward_kwargs", None) or {}) if hasattr(config, "get") else {}
            self.reward_config = reward_config(options)
            self.prm = _load_prm(self.reward_config.prm)

        async def run_single(self, data) -> dict:
            tensor, info = await self.loop.run_in_executor(None, token_rewards, data[-1:], self.tokenizer, self.reward_config, self.prm)
            return {"reward_score": tensor[0].tolist(), "reward_extra_info": {k: v[0] for k, v in info.items()}}

        @classmethod
        def assemble_rm_scores(cls, data, scores: list) -> torch.Tensor:
            if scores and not isinstance(scores[0], (list, tuple)):
                return super().assemble_rm_scores(data, scores)
            return torch.tensor(scores, dtype=torch.float32)

    return CodeprmRewardManager


def _legacy_manager(base):
    class CodeprmLegacyRewardManager(base):
        """verl's older reward-manager API (``verl.workers.reward_manager``): the whole batch at once."""

        def __init__(self, tokenizer, num_examine: int = 0, compute_score=None, reward_fn_key: str = "data_source",
                     prm: str | None = None, **reward_kwargs: Any):
            self.tokenizer = tokenizer
            self.config = reward_config({**reward_kwargs, "prm": prm})
            self.prm = _load_prm(prm)

        def __call__(self, data, return_dict: bool = False):
            tensor, info = token_rewards(data, self.tokenizer, self.config, self.prm)
            return {"reward_tensor": tensor, "reward_extra_info": dict(info)} if return_dict else tensor

    return CodeprmLegacyRewardManager


try:  # verl is an optional extra: compute_score works without it
    CodeprmRewardManager = _register("verl.experimental.reward_loop.reward_manager",
                                     "verl.experimental.reward_loop.reward_manager.base", "RewardManagerBase", _loop_manager)
    CodeprmLegacyRewardManager = _register("verl.workers.reward_manager", "verl.workers.reward_manager.abstract",
                                           "AbstractRewardManager", _legacy_manager)
except ModuleNotFoundError as exc:
    if not (exc.name or "").startswith("verl"):
        raise
    CodeprmRewardManager = CodeprmLegacyRewardManager = None
