"""Step 4 of an RL step: ``epochs`` passes of minibatch updates over one rollout batch.

Names follow CleanRL's ppo.py: ``b_`` tensors cover the whole batch, ``mb_`` one minibatch, ``new_`` are
recomputed under the current weights. Every (B, T) tensor is response-only and right-padded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from codeprm.rl import core_algos as ca
from codeprm.rl.config import AlgorithmConfig
from codeprm.device import Placement
from codeprm.rl.rollout import Rollout, response_logprobs, response_values


@dataclass
class Batch:
    """What the update reads, all (B, T) unless noted."""

    old_logprobs: torch.Tensor  # log p under the rollout policy
    ref_logprobs: torch.Tensor  # log p under the frozen reference
    advantages: torch.Tensor
    returns: torch.Tensor  # critic targets (GAE only)
    values: torch.Tensor  # the critic's values at rollout time (GAE only; zeros otherwise)
    mask: torch.Tensor  # real response tokens
    loss_mask: torch.Tensor  # tokens the policy loss applies to


def value_update(critic, critic_opt, ro: Rollout, b: Batch, algo: AlgorithmConfig, mb: torch.Tensor, place: Placement) -> dict:
    """One clipped value-loss step of the critic on minibatch ``mb``."""
    with place.autocast():
        new_values = response_values(critic, ro.input_ids[mb], ro.attention_mask[mb], ro.prompt_width)  # (mb, T)
    v_loss, info = ca.value_loss(new_values, b.values[mb], b.returns[mb], b.mask[mb], algo.value_clip)
    critic_opt.zero_grad()
    (algo.vf_coef * v_loss).backward()
    torch.nn.utils.clip_grad_norm_(critic.parameters(), algo.max_grad_norm)
    critic_opt.step()
    return {"value_loss": v_loss.item(), "vf_clipfrac": info["vf_clipfrac"]}


def warm_up_critic(critic, critic_opt, ro: Rollout, b: Batch, algo: AlgorithmConfig, epochs: int, generator: torch.Generator,
                   place: Placement) -> list[float]:
    """Value-only passes over one batch (no policy step); returns the value loss of each minibatch."""
    B = ro.responses.shape[0]
    losses = []
    for _ in range(epochs):
        for mb in torch.randperm(B, generator=generator).to(place.device).split(algo.minibatch_size):
            losses.append(value_update(critic, critic_opt, ro, b, algo, mb, place)["value_loss"])
    return losses


def ppo_update(model, optimizer, critic, critic_opt, ro: Rollout, b: Batch, algo: AlgorithmConfig, temperature: float,
               generator: torch.Generator, place: Placement) -> dict:
    """The clipped policy loss (+ entropy bonus, + KL in the loss) and the critic's clipped value loss,
    ``algo.epochs`` x minibatches; stops early, before stepping, at the first minibatch whose approx_kl to
    the rollout policy passes ``algo.target_kl`` (the first minibatch is on-policy: it always steps).
    Returns the mean of each diagnostic and ``updates`` (policy steps taken)."""
    B = ro.responses.shape[0]
    diag: dict[str, list[float]] = {k: [] for k in ("policy_loss", "value_loss", "vf_clipfrac", "entropy", "approx_kl", "clipfrac", "kl_loss")}
    early_stop = False
    for _epoch in range(algo.epochs):
        for mb in torch.randperm(B, generator=generator).to(place.device).split(algo.minibatch_size):
            mb_mask, mb_loss_mask = b.mask[mb], b.loss_mask[mb]  # (mb, T)
            with place.autocast():
                new_logprobs, new_entropy = response_logprobs(model, ro.input_ids[mb], ro.attention_mask[mb], ro.responses[mb], temperature,
                                                              with_entropy="grad" if algo.ent_coef > 0 else "log")  # (mb, T)
            pg_loss, info = ca.policy_loss(b.old_logprobs[mb], new_logprobs, b.advantages[mb], mb_loss_mask, algo.clip_ratio)
            if algo.target_kl is not None and info["approx_kl"] > algo.target_kl:
                early_stop = True  # the policy has moved far enough from the one that sampled this batch
                break
            entropy = ca.masked_mean(new_entropy, mb_mask)
            loss = pg_loss - algo.ent_coef * entropy
            if algo.kl_in == "loss":
                # k3 (not k1): its gradient pulls the policy back toward the reference; k1's is zero on-policy
                kl_loss = ca.masked_mean(ca.kl_penalty(new_logprobs, b.ref_logprobs[mb], algo.kl_estimator), mb_mask)
                loss = loss + algo.kl_coef * kl_loss
                diag["kl_loss"].append(kl_loss.item())
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), algo.max_grad_norm)
            optimizer.step()
            if critic is not None:
                for k, v in value_update(critic, critic_opt, ro, b, algo, mb, place).items():
                    diag[k].append(v)
            diag["policy_loss"].append(pg_loss.item())
            diag["entropy"].append(entropy.item())
            diag["approx_kl"].append(info["approx_kl"])
            diag["clipfrac"].append(info["clipfrac"])
        if early_stop:
            break
    out = {k: float(np.mean(v)) for k, v in diag.items() if v}
    return out | {"updates": len(diag["policy_loss"]), "early_stopped": float(early_stop)}
