"""verl adapters: a custom reward function, a reward manager with PRM line rewards, and the agent-loop
manager that carries those line rewards into verl's token-level scores.

Outcome only (verl's ``custom_reward_function``; any verl path)::

    reward.custom_reward_function.path=pkg://codeprm.integrations.verl reward.custom_reward_function.name=compute_score

Dense line rewards in verl's default path (rule-based reward, ``reward.reward_model.enable=False``)::

    reward.reward_manager.source=importlib reward.reward_manager.module.path=pkg://codeprm.integrations.verl
    reward.reward_manager.name=CodeprmRewardManager +reward.reward_kwargs.prm=runs/prm
    +actor_rollout_ref.rollout.agent.agent_loop_manager_class=codeprm.integrations.verl.CodeprmAgentLoopManager

(``reward.reward_manager.name=codeprm`` with verl's default ``source=register`` also works: installing
codeprm declares this module as a ``verl.plugins`` entry point, which ``import verl`` loads.) verl 0.9's
agent loop scores each sample as it finishes and carries one float (``AgentLoopOutput.reward_score``,
put on the last token), so in that path the manager returns the outcome float and the line rewards as
``reward_extra_info[DENSE_KEY]``; ``CodeprmAgentLoopManager`` adds them to ``rm_scores`` at their tokens,
and verl's GAE reads them as ordinary token-level scores. Without it (or without a PRM) the manager
gives the outcome reward and logs once which config lines turn the dense rewards on. Where verl hands
the manager the whole batch (``RewardLoopManager.compute_rm_score``: a reward model enabled without its
own resource pool) it returns the (R,) token rewards directly.

Each dataset row's ``reward_model.ground_truth`` is a problem spec (``"humaneval#HumanEval/0"`` or a
Problem's JSON, see ``codeprm.integrations.core``; ``codeprm export --format verl`` writes such rows).
The outcome reward goes on the last response token and each non-neutral line's PRM reward on the token
covering the line's last character (``codeprm.lines``), exactly as ``codeprm rl`` does
(``codeprm.rl.rewards``).
"""

from __future__ import annotations

import json
import logging
import threading
from collections import defaultdict
from typing import Any

import torch

from codeprm.config import build
from codeprm.integrations.core import details, judge_many, resolve_problem
from codeprm.rl import rewards as rw
from codeprm.rl.config import RewardConfig

log = logging.getLogger("codeprm.integrations.verl")

DENSE_KEY = "codeprm_line_rewards"  # reward_extra_info: JSON [[response token index, line reward], ...]
DENSE_MANAGER = "codeprm.integrations.verl.CodeprmAgentLoopManager"
DENSE_CONFIG = (f"+reward.reward_kwargs.prm=PRM_DIR +actor_rollout_ref.rollout.agent.agent_loop_manager_class={DENSE_MANAGER}")
# keyword arguments verl's reward managers add to a custom reward function's call when a reward model is on
VERL_CALL_KWARGS = ("reward_router_address", "reward_model_tokenizer")
_warned: set[str] = set()


def warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        log.warning(message)


def reward_config(options: dict[str, Any]) -> RewardConfig:
    """``RewardConfig`` from keyword options (verl's ``reward_kwargs``); unknown keys are a one-line error."""
    return build(RewardConfig, {}, dict(options), "reward options")


def compute_score(data_source: str, solution_str: str, ground_truth: Any, extra_info: dict | None = None, **kwargs: Any) -> dict:
    """verl's custom reward function: the outcome reward of ``solution_str`` on the problem named by
    ``ground_truth``, with the test details (``passed``, ``pass_rate``, ``n_tests``, ``infra_error``).
    ``kwargs`` are RewardConfig fields (e.g. ``outcome="pass_rate"``); the ones verl adds when a reward
    model is enabled (``reward_router_address``, ``reward_model_tokenizer``) are ignored."""
    cfg = reward_config({k: v for k, v in kwargs.items() if k not in VERL_CALL_KWARGS})
    warn_once("codeprm compute_score gives the outcome reward only; for dense PRM line rewards use the codeprm reward "
              f"manager: reward.reward_manager.name=codeprm {DENSE_CONFIG}")
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
        if line_rewards is not None:
            placed = shaped.process_mask.nonzero().flatten().tolist()
            info[DENSE_KEY].append(json.dumps([[t, float(shaped.process_rewards[t])] for t in placed]))
    return out, info


def add_line_rewards(output):
    """Add the line rewards a ``codeprm`` manager left in ``reward_extra_info[DENSE_KEY]`` to the
    ``rm_scores`` verl's agent loop built (outcome on the last token); a batch without them is unchanged."""
    if DENSE_KEY not in output.non_tensor_batch or "rm_scores" not in output.batch.keys():
        return output
    scores = output.batch["rm_scores"]
    for b, packed in enumerate(output.non_tensor_batch[DENSE_KEY]):
        for t, r in json.loads(packed) if packed else []:
            scores[b, t] += r
    output.batch["rm_scores"] = scores
    return output


def _in_rm_scores_path(config) -> bool:
    """True where verl stacks the manager's answers into ``rm_scores`` itself (``compute_rm_score``: a
    reward model enabled without its own resource pool); elsewhere the agent loop wants one float."""
    from omegaconf import OmegaConf

    return bool(OmegaConf.select(config, "reward.reward_model.enable", default=False)) and not bool(
        OmegaConf.select(config, "reward.reward_model.enable_resource_pool", default=False))


def _dense_manager_on(config) -> bool:
    from omegaconf import OmegaConf

    return (OmegaConf.select(config, "actor_rollout_ref.rollout.agent.agent_loop_manager_class", default=None) or "").endswith(
        "CodeprmAgentLoopManager")


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
        """verl's reward loop (0.9+): one sample per ``run_single``. In the agent loop (verl's default) its
        ``reward_score`` is the outcome float and the line rewards ride in ``reward_extra_info[DENSE_KEY]``;
        under ``compute_rm_score`` it is the (R,) token rewards, which ``assemble_rm_scores`` stacks.
        Options come from ``reward.reward_kwargs`` (``prm`` and any RewardConfig field)."""

        def __init__(self, config, tokenizer, compute_score=None, **unused: Any):
            # unused: reward_router_address, reward_model_tokenizer (verl passes them; the PRM runs here)
            super().__init__(config, tokenizer, compute_score)
            options = dict(config.get("reward", {}).get("reward_kwargs", None) or {}) if hasattr(config, "get") else {}
            self.reward_config = reward_config(options)
            self.prm = _load_prm(self.reward_config.prm)
            self.token_level = _in_rm_scores_path(config)
            if not self.token_level and not (self.prm is not None and _dense_manager_on(config)):
                warn_once("codeprm reward manager: verl's agent loop carries one float per sample, so this run gets the outcome "
                          f"reward{' (line rewards only in reward_extra_info)' if self.prm is not None else ''}; "
                          f"dense PRM line rewards on their tokens: {DENSE_CONFIG}")

        async def run_single(self, data) -> dict:
            tensor, info = await self.loop.run_in_executor(None, token_rewards, data[-1:], self.tokenizer, self.reward_config, self.prm)
            extra = {k: v[0] for k, v in info.items()}
            if self.token_level:  # compute_rm_score: assemble_rm_scores stacks the (R,) rows
                extra.pop(DENSE_KEY, None)  # already on their tokens
                return {"reward_score": tensor[0].tolist(), "reward_extra_info": extra}
            return {"reward_score": float(extra["score"]), "reward_extra_info": extra}

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


def _agent_loop_manager():
    from verl.experimental.agent_loop import AgentLoopManager
    from verl.utils.ray_utils import auto_await

    class CodeprmAgentLoopManager(AgentLoopManager):
        """verl's AgentLoopManager (named by ``actor_rollout_ref.rollout.agent.agent_loop_manager_class``)
        whose output's ``rm_scores`` also carry the codeprm line rewards (``add_line_rewards``)."""

        @auto_await
        async def generate_sequences(self, prompts):
            return add_line_rewards(await super().generate_sequences(prompts))

    return CodeprmAgentLoopManager


def __getattr__(name: str):
    # built on first use: verl's agent loop imports its rollout servers, which a reward worker never needs
    if name == "CodeprmAgentLoopManager":
        globals()[name] = _agent_loop_manager()
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


try:  # verl is an optional extra: compute_score works without it
    CodeprmRewardManager = _register("verl.experimental.reward_loop.reward_manager",
                                     "verl.experimental.reward_loop.reward_manager.base", "RewardManagerBase", _loop_manager)
    CodeprmLegacyRewardManager = _register("verl.workers.reward_manager", "verl.workers.reward_manager.abstract",
                                           "AbstractRewardManager", _legacy_manager)
except ModuleNotFoundError as exc:
    if not (exc.name or "").startswith("verl"):
        raise
    CodeprmRewardManager = CodeprmLegacyRewardManager = None
