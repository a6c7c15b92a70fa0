"""PPO / GRPO / RLOO for code with dense line rewards: the loop, readable top to bottom (CleanRL's ppo.py).

One step:
  1. rollout     sample ``samples_per_prompt`` completions of ``prompts_per_step`` training problems;
                 log-probs under the rollout policy and the frozen reference; stop if the KL exploded
  2. rewards     run them in the sandbox (outcome on the final token), score their lines with the PRM
                 (line reward on each line-end token), subtract the KL to the reference (``kl_in=reward``)
  3. advantages  the registered estimator (``gae`` with the critic, or ``grpo``/``rloo``/``process``)
  4. update      ``epochs`` x minibatches of the clipped policy loss (+ the critic's clipped value loss),
                 stopped early at ``target_kl``
Every step is seeded from ``(seed, step)``, so a run resumed from its checkpoint reproduces exactly what
the killed run would have done. Pieces: ``setup`` (components, logs, resume), ``rollout`` (steps 1-2),
``core_algos`` (step 3), ``update`` (step 4), ``evaluation`` (held-out pass rate).

Tensor names: ``b_`` the whole rollout batch, ``mb_`` a minibatch, ``new_`` recomputed under the current
weights. Shapes: B samples, T response width (right-padded).
"""

from __future__ import annotations

import json
import random
import time
from typing import Sequence

import numpy as np
import torch

from codeprm.errors import CodeprmError
from codeprm.problems import Problem
from codeprm.rl import core_algos as ca
from codeprm.rl.components import LineScorer, Verifier, calibrate_head, fit_affine
from codeprm.rl.config import RLConfig
from codeprm.rl.evaluation import evaluate, evaluate_pass1  # noqa: F401 (evaluate_pass1: public, used by the program-rule test)
from codeprm.rl.rollout import batch_logprobs, batch_values, rollout, score_rollout
from codeprm.rl.setup import Run, set_up
from codeprm.rl.update import Batch, ppo_update, warm_up_critic


class KLExploded(CodeprmError):
    """The policy drifted further from the reference than ``algo.max_kl`` allows."""


def _seed_for(seed: int, step: int, salt: int) -> int:
    return int(np.random.SeedSequence([seed, step, salt]).generate_state(1, np.uint32)[0])


def train(config: RLConfig, *, policy=None, verifier: Verifier | None = None, line_scorer: LineScorer | None = None,
          train_problems: Sequence[Problem] | None = None, eval_problems: Sequence[Problem] | None = None) -> dict:
    """Run (or resume) RL as configured; returns a summary dict (also written to ``out/summary.json``).
    The keyword arguments replace the configured components (tests use toy verifiers and tiny models)."""
    start_time = time.time()
    run = set_up(config, policy=policy, verifier=verifier, line_scorer=line_scorer, train_problems=train_problems,
                 eval_problems=eval_problems)
    algo, place = config.algo, run.place
    stopped = None
    try:
        if config.eval_start and run.step == 0 and not run.log.eval_history():
            _evaluate(run)
        while run.step < config.steps:
            step_start = time.time()
            # ---- 1. rollout
            rng = random.Random(_seed_for(config.seed, run.step, 0))
            if run.stream is not None:
                problems = run.stream.draw(run.step, config.prompts_per_step)
            else:
                problems = rng.sample(run.train_problems, min(config.prompts_per_step, len(run.train_problems)))
            ro = rollout(run.policy, problems, config, seed=_seed_for(config.seed, run.step, 1), place=place)
            b_mask = ro.response_mask  # (B, T)
            chunk = algo.minibatch_size
            b_old_logprobs = batch_logprobs(run.model, ro, config.temperature, chunk, place)  # (B, T)
            if run.reference is not None:
                b_ref_logprobs = batch_logprobs(run.reference, ro, config.temperature, chunk, place)
            else:
                with run.model.disable_adapter():
                    b_ref_logprobs = batch_logprobs(run.model, ro, config.temperature, chunk, place)
            kl = ca.masked_sum(b_old_logprobs - b_ref_logprobs, b_mask, dim=-1).mean().item()  # nats per sample (k1, unbiased)
            if algo.max_kl is not None and kl > algo.max_kl:
                stopped = _kl_stop(run, kl)
                break
            if run.step > 0 and run.step % config.save_every_steps == 0:
                run.checkpoint()  # this policy's samples stayed within max_kl: it is a good checkpoint

            # ---- 2. rewards
            rewards = score_rollout(ro, run.verifier, run.line_scorer, run.policy.tokenizer, config)
            b_kl = ca.kl_penalty(b_old_logprobs, b_ref_logprobs, algo.kl_estimator) * b_mask  # (B, T)
            b_token_rewards = rewards.token_rewards - algo.kl_coef * b_kl if algo.kl_in == "reward" else rewards.token_rewards

            # ---- 3. advantages
            b_values = torch.zeros_like(b_mask)  # (B, T); critic-free estimators ignore it
            critic_info = {}
            if run.critic is not None:
                if run.fresh and run.step == 0:
                    critic_info = _prepare_critic(run, ro, b_token_rewards, b_mask)
                b_values = batch_values(run.critic, ro, chunk, place)
            estimator = ca.get_adv_est(algo.estimator)
            b_advantages, b_returns = estimator(
                token_level_rewards=b_token_rewards, response_mask=b_mask, values=b_values, gamma=algo.gamma, lam=algo.lam,
                group_index=ro.group_index, scores=rewards.outcomes if algo.estimator == "process" else None,
                process_rewards=rewards.process_rewards, process_mask=rewards.process_mask, norm_by_std=algo.grpo_norm_by_std,
                process_credit=algo.process_credit)
            if algo.whiten_advantages:
                b_advantages = ca.masked_whiten(b_advantages, rewards.loss_mask) * b_mask
            batch = Batch(old_logprobs=b_old_logprobs, ref_logprobs=b_ref_logprobs, advantages=b_advantages, returns=b_returns,
                          values=b_values, mask=b_mask, loss_mask=rewards.loss_mask)

            # ---- 4. update
            gen = torch.Generator().manual_seed(_seed_for(config.seed, run.step, 2))
            diag = ppo_update(run.model, run.optimizer, run.critic, run.critic_opt, ro, batch, algo, config.temperature, gen, place)

            # ---- log, evaluate, checkpoint
            run.step += 1
            run.log.row(_step_row(run, ro, rewards, batch, b_kl, kl, diag | critic_info, time.time() - step_start))
            if config.eval_every_steps and run.step % config.eval_every_steps == 0 or run.step == config.steps:
                _evaluate(run)
        if stopped is None and run.step == config.steps and run.saved_step != run.step:
            run.checkpoint()
        if stopped is None:
            _export_policy(run.model, run.policy.tokenizer, run.out / "policy")
    finally:
        run.close()
    history = run.log.eval_history()
    summary = {"steps": run.step, "final_eval_pass1": history[-1][1] if history else None, "eval_history": history,
               "out": str(run.out), "policy": f"hf:{run.out / 'policy'}", "wall_s": time.time() - start_time, "stopped": stopped}
    (run.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if stopped is not None:
        raise KLExploded(stopped)
    return summary


def _evaluate(run: Run) -> None:
    row, detail = evaluate(run.policy, run.eval_sets, run.verifier, run.config, run.place)
    run.log.row({"step": run.step, **row})
    run.log.eval_detail(run.step, detail)


def _kl_stop(run: Run, kl: float) -> str:
    kept = (f"the last good checkpoint (step {run.saved_step}) is {run.out / 'checkpoint.pt'}" if run.saved_step is not None
            else "no checkpoint had been saved yet")
    return (f"stopped at step {run.step}: the policy's KL to the reference is {kl:.2f} nats per sample, above algo.max_kl="
            f"{run.config.algo.max_kl}; {kept}")


def _prepare_critic(run: Run, ro, b_token_rewards: torch.Tensor, b_mask: torch.Tensor) -> dict:
    """First batch of a fresh run: fit a PRM critic's head to this policy's Monte Carlo returns, then the
    optional value-only warm-up epochs. Returns what was done, for the step's log row."""
    config, info = run.config, {}
    b_mc_returns = ca.gae(b_token_rewards, b_mask, torch.zeros_like(b_mask), gamma=config.algo.gamma, lam=1.0)[1]  # (B, T)
    if config.critic_init == "prm" and config.critic_calibration == "fit":
        b_raw = batch_values(run.critic, ro, config.algo.minibatch_size, run.place)  # the PRM head's logits, (B, T)
        a, b = fit_affine(b_raw, b_mc_returns, b_mask)
        calibrate_head(run.critic, a, b)
        info |= {"critic_calib_a": a, "critic_calib_b": b}
    if config.critic_warmup_epochs:
        b_values = batch_values(run.critic, ro, config.algo.minibatch_size, run.place)
        _, b_returns = ca.gae(b_token_rewards, b_mask, b_values, gamma=config.algo.gamma, lam=config.algo.lam)
        warm = Batch(old_logprobs=b_mask, ref_logprobs=b_mask, advantages=b_mask, returns=b_returns, values=b_values, mask=b_mask,
                     loss_mask=b_mask)
        gen = torch.Generator().manual_seed(_seed_for(config.seed, 0, 3))
        losses = warm_up_critic(run.critic, run.critic_opt, ro, warm, config.algo, config.critic_warmup_epochs, gen, run.place)
        info |= {"critic_warmup_loss_first": losses[0], "critic_warmup_loss_last": losses[-1]}
    return info


def _step_row(run: Run, ro, rewards, batch: Batch, b_kl: torch.Tensor, kl: float, diag: dict, step_time: float) -> dict:
    """The step's metrics: rewards, pass rate, KL, what reveals reward hacking (lines, comment share, PRM
    score vs test outcome), the update's diagnostics."""
    b_mask = batch.mask
    judged = [(p, s) for p, s in zip(rewards.passed, rewards.prm_mean) if p is not None]
    prm_pass = [s for p, s in judged if p and s is not None]
    prm_fail = [s for p, s in judged if not p and s is not None]
    return {
        "step": run.step,
        "reward": ca.masked_sum(rewards.token_rewards, b_mask, dim=-1).mean().item(),
        "outcome": rewards.outcomes.mean().item(),
        "pass_rate": float(np.mean([p for p, _ in judged])) if judged else 0.0,
        "kl": kl,
        "kl_penalty": ca.masked_sum(b_kl, b_mask, dim=-1).mean().item(),
        "line_reward_mean": float(np.mean(rewards.line_rewards)) if rewards.line_rewards else 0.0,
        "line_reward_sum": float(np.sum(rewards.line_rewards)) / len(rewards.passed),
        "lines": float(np.mean(rewards.lines)),
        "neutral_line_share": float(np.mean(rewards.neutral_share)),
        "prm_mean_passed": float(np.mean(prm_pass)) if prm_pass else float("nan"),
        "prm_mean_failed": float(np.mean(prm_fail)) if prm_fail else float("nan"),
        "response_length": b_mask.sum(-1).mean().item(),
        "loss_masked_share": 1 - (rewards.loss_mask.sum() / b_mask.sum().clamp(min=1)).item(),
        "infra_errors": sum(p is None for p in rewards.passed),
        "prm_line_auroc": rewards.prm_line_auroc if rewards.prm_line_auroc is not None else float("nan"),
        "exact_labelled": (sum(fe is not None for fe in rewards.exact_first_errors) if rewards.exact_first_errors is not None else 0),
        "problems_fresh": run.stream is not None,
        "explained_variance": ca.explained_variance(batch.values, batch.returns, b_mask) if run.critic is not None else float("nan"),
        **diag,
        "step_time_s": step_time,
    }


def _export_policy(model, tokenizer, directory) -> None:
    """The trained policy as a plain ``save_pretrained`` directory (LoRA merged), loadable as ``hf:DIR``."""
    import copy

    if hasattr(model, "merge_and_unload"):
        model = copy.deepcopy(model).merge_and_unload()
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
