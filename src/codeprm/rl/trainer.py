"""PPO / GRPO / RLOO for code, with dense line rewards: the loop, readable top to bottom (CleanRL's ppo.py).

One step:
  1. rollout   sample ``samples_per_prompt`` completions for ``prompts_per_step`` training problems
  2. rewards   run them in the sandbox (outcome on the final token), score their lines with the PRM
               (line reward on each line-end token), subtract the KL to the frozen reference
  3. advantages  the registered estimator (``gae`` with the critic, or ``grpo``/``rloo``/``process``)
  4. update    ``epochs`` x minibatches of the clipped policy loss (+ the critic's clipped value loss)
Every step is seeded from ``(seed, step)``, so a run resumed from its checkpoint reproduces exactly what
the killed run would have done.

Tensor names: ``b_`` the whole rollout batch, ``mb_`` a minibatch, ``new_`` recomputed under the current
weights. Shapes: B samples, P prompt width (left-padded), T response width (right-padded), V vocab.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from codeprm.problems import Problem
from codeprm.programs import program_text
from codeprm.rl import core_algos as ca
from codeprm.rl import rewards as rw
from codeprm.rl.components import (LineScorer, Verifier, add_lora, build_critic, check_same_tokenizer, load_checkpoint,
                                   load_prm, load_rl_policy, prm_line_scorer, sandbox_verifier, save_checkpoint,
                                   truncate_metrics)
from codeprm.rl.config import RLConfig


@dataclass
class Rollout:
    """One step's samples as padded tensors plus what the reward stage needs per sample."""

    input_ids: torch.Tensor  # (B, P+T) prompt (left-padded) then response (right-padded)
    attention_mask: torch.Tensor  # (B, P+T)
    responses: torch.Tensor  # (B, T)
    response_mask: torch.Tensor  # (B, T)
    prompt_width: int
    problems: list[Problem]  # (B,) the problem of each sample
    texts: list[str]  # (B,) completion text (cut at the stop sequence)
    prompts: list[str]  # (B,) the exact text the policy continued
    group_index: torch.Tensor  # (B,) which prompt each sample answers


def _seed_for(seed: int, step: int, salt: int) -> int:
    return int(np.random.SeedSequence([seed, step, salt]).generate_state(1, np.uint32)[0])


def _positions(attention_mask: torch.Tensor) -> torch.Tensor:
    return (attention_mask.cumsum(-1) - 1).clamp(min=0)


def response_logprobs(model, input_ids, attention_mask, responses, prompt_width: int, temperature: float,
                      with_entropy: bool | str = False):
    """log p(response token) under ``model`` at the sampling temperature, (B, T); and the entropy, (B, T).

    Only the T+1 last positions go through the LM head (``logits_to_keep``): the prompt's vocabulary
    logits are never needed, and on a small model they are a large share of the forward and backward cost.
    Entropy is differentiable only when ``with_entropy="grad"`` (an entropy bonus); "log" computes it
    without a graph, for logging."""
    T = responses.shape[1]
    logits = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=_positions(attention_mask),
                   logits_to_keep=T + 1).logits  # (B, T+1, V)
    logits = logits[:, :-1, :] / temperature  # position i predicts token i+1 -> (B, T, V)
    logprobs = ca.logprobs_from_logits(logits, responses)
    entropy = None
    if with_entropy == "grad":
        entropy = ca.entropy_from_logits(logits)
    elif with_entropy:
        with torch.no_grad():
            entropy = ca.entropy_from_logits(logits.detach())
    return logprobs, entropy


def response_values(critic, input_ids, attention_mask, prompt_width: int) -> torch.Tensor:
    """V(state before each response token): the critic read one position earlier, (B, T)."""
    return critic(input_ids, attention_mask, _positions(attention_mask))[:, prompt_width - 1 : -1]


def _in_chunks(fn, n: int, size: int):
    """``fn(slice)`` over ``range(n)`` in chunks, concatenated along dim 0 (bounds forward-pass memory)."""
    return torch.cat([fn(slice(i, min(i + size, n))) for i in range(0, n, size)], dim=0)


def _rollout_logprobs(model, ro: "Rollout", temperature: float, chunk: int) -> torch.Tensor:
    def one(s: slice) -> torch.Tensor:
        return response_logprobs(model, ro.input_ids[s], ro.attention_mask[s], ro.responses[s], ro.prompt_width, temperature)[0]

    return _in_chunks(one, ro.responses.shape[0], chunk)


# ---------------------------------------------------------------------------------------------- 1.
def rollout(policy, problems: Sequence[Problem], config: RLConfig, seed: int) -> Rollout:
    n = config.samples_per_prompt
    prompts = [policy.prompt_for(p) for p in problems]
    stop = policy.default_stop(problems[0])
    outs = policy.generate(prompts, n=n, temperature=config.temperature, top_p=config.top_p,
                           max_new_tokens=config.max_new_tokens, stop=stop, seed=seed, return_logprobs=True)
    prompt_ids = [policy.encode(p) for p in prompts]
    rows = [(i, c) for i in range(len(problems)) for c in outs[i]]
    P = max(len(ids) for ids in prompt_ids)
    T = max(1, max(len(c.token_ids) for _, c in rows))
    pad = policy.pad_id
    input_ids = torch.full((len(rows), P + T), pad, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), P + T), dtype=torch.long)
    for b, (i, c) in enumerate(rows):
        ids = prompt_ids[i]
        input_ids[b, P - len(ids) : P] = torch.tensor(ids)
        attention_mask[b, P - len(ids) : P] = 1
        input_ids[b, P : P + len(c.token_ids)] = torch.tensor(c.token_ids, dtype=torch.long)
        attention_mask[b, P : P + len(c.token_ids)] = 1
    return Rollout(input_ids=input_ids, attention_mask=attention_mask, responses=input_ids[:, P:],
                   response_mask=attention_mask[:, P:].float(), prompt_width=P,
                   problems=[problems[i] for i, _ in rows], texts=[c.text for _, c in rows],
                   prompts=[prompts[i] for i, _ in rows], group_index=torch.tensor([i for i, _ in rows]))


# ---------------------------------------------------------------------------------------------- 2.
def shape_rewards(ro: Rollout, results, line_scores, tokenizer, config: RLConfig, context_ids: Sequence[Sequence[int]]):
    """Per-sample reward shaping stacked into (B, T) tensors."""
    B, T = ro.responses.shape
    shaped, stats = [], {"line_rewards": [], "lines": []}
    for b in range(B):
        length = int(ro.response_mask[b].sum())
        ids = ro.responses[b, :length].tolist()
        spans = rw.line_spans(ro.texts[b])
        char_ends = rw.token_char_ends(tokenizer, ids, context_ids[b])
        end_tokens = rw.line_end_tokens(char_ends, spans)
        result = results[b]
        line_rewards = None if line_scores is None else rw.line_rewards_from_scores(line_scores[b], result.passed, config.reward)
        executed = None
        if config.reward.mask_unexecuted_lines and ro.problems[b].style == "completion":
            executed = rw.executed_completion_lines(result.lines_executed, ro.problems[b].prompt, len(spans))
        s = rw.shape_sample(length, T, rw.outcome_reward(result, config.reward), spans, end_tokens, line_rewards, executed, char_ends)
        if result.infra_error:  # never scored as a failure: the sample simply does not train
            s.loss_mask.zero_()
        shaped.append(s)
        stats["line_rewards"].extend(s.line_rewards)
        stats["lines"].append(sum(not sp.neutral for sp in spans))
    stack = lambda name: torch.stack([getattr(s, name) for s in shaped])  # noqa: E731
    return (stack("token_rewards"), stack("process_rewards"), stack("process_mask"), stack("loss_mask"),
            torch.tensor([s.outcome for s in shaped]), stats)


# ---------------------------------------------------------------------------------------------- eval
@torch.no_grad()
def evaluate_pass1(policy, problems: Sequence[Problem], verifier: Verifier, config: RLConfig) -> dict:
    """Greedy pass@1 on held-out problems (infra errors are counted and left out of the denominator)."""
    stop = policy.default_stop(problems[0])
    outs = policy.generate([policy.prompt_for(p) for p in problems], n=1, temperature=0.0,
                           max_new_tokens=config.max_new_tokens, stop=stop)
    results = verifier(problems, [program_text(p, o[0].text) for p, o in zip(problems, outs)], False)
    judged = [r for r in results if not r.infra_error]
    return {"eval_pass1": sum(r.passed for r in judged) / max(1, len(judged)), "eval_infra_errors": len(results) - len(judged)}


# ---------------------------------------------------------------------------------------------- loop
def train(config: RLConfig, *, policy=None, verifier: Verifier | None = None, line_scorer: LineScorer | None = None,
          train_problems: Sequence[Problem] | None = None, eval_problems: Sequence[Problem] | None = None) -> dict:
    """Run (or resume) RL as configured; returns a summary dict (also written to ``out/summary.json``).
    The keyword arguments replace the configured components (tests use toy verifiers and tiny models)."""
    from codeprm.problems import load_benchmark

    start_time = time.time()
    if config.threads:
        torch.set_num_threads(config.threads)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(config.to_yaml())
    algo, rcfg = config.algo, config.reward

    # ---- components
    policy = policy or load_rl_policy(config.policy)
    tokenizer = policy.tokenizer
    train_problems = list(train_problems or load_benchmark(config.train_benchmark))
    eval_problems = list(eval_problems or load_benchmark(config.eval_benchmark))[: config.eval_limit]
    own_verifier = verifier is None
    verifier = verifier or sandbox_verifier(config.sandbox_workers)
    prm = None
    if line_scorer is None and rcfg.prm:
        prm = load_prm(rcfg.prm)
        check_same_tokenizer(prm.tokenizer, tokenizer, rcfg.prm)
        line_scorer = prm_line_scorer(prm)
    torch.manual_seed(config.seed)
    model = policy.model
    if config.lora_rank:
        model = policy.model = add_lora(model, config.lora_rank)
        reference = None  # the adapter-free base is the reference
    else:
        reference = _frozen_copy(model)
    critic = build_critic(config.critic_init, model, rcfg.prm, rcfg.outcome_scale) if config.uses_critic else None
    if critic is not None and config.critic_init == "prm":
        check_same_tokenizer(load_prm(rcfg.prm).tokenizer if prm is None else prm.tokenizer, tokenizer, rcfg.prm)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=algo.lr)
    critic_opt = torch.optim.AdamW(critic.parameters(), lr=algo.critic_lr) if critic is not None else None

    # ---- resume
    step = 0
    metrics_path = out / "metrics.jsonl"
    ckpt = load_checkpoint(out) if config.resume else None
    if ckpt is not None:
        model.load_state_dict(ckpt["policy"])
        optimizer.load_state_dict(ckpt["optimizer"])
        if critic is not None:
            critic.load_state_dict(ckpt["critic"])
            critic_opt.load_state_dict(ckpt["critic_optimizer"])
        step = ckpt["step"]
    if ckpt is not None:
        truncate_metrics(metrics_path, step)
    else:
        metrics_path.write_text("")
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(out / "tb"), purge_step=step + 1 if ckpt is not None else None)

    def log(row: dict) -> None:
        with open(metrics_path, "a") as f:
            f.write(json.dumps(row) + "\n")
        for k, v in row.items():
            if k != "step" and isinstance(v, (int, float)) and v == v:
                writer.add_scalar(k, v, row["step"])
        writer.flush()

    def checkpoint() -> None:
        state = {"step": step, "policy": model.state_dict(), "optimizer": optimizer.state_dict()}
        if critic is not None:
            state |= {"critic": critic.state_dict(), "critic_optimizer": critic_opt.state_dict()}
        save_checkpoint(out, state)

    def do_eval() -> None:
        row = {"step": step, **evaluate_pass1(policy, eval_problems, verifier, config)}
        log(row)
        eval_history.append((step, row["eval_pass1"]))

    eval_history: list[tuple[int, float]] = [(r["step"], r["eval_pass1"]) for r in _read_rows(metrics_path) if "eval_pass1" in r]
    if step == 0 and not eval_history:
        do_eval()
    progress = _Progress(config.steps, step, enabled=config.progress)
    while step < config.steps:
        step_start = time.time()
        # ---- 1. rollout
        rng = random.Random(_seed_for(config.seed, step, 0))
        problems = rng.sample(train_problems, min(config.prompts_per_step, len(train_problems)))
        ro = rollout(policy, problems, config, seed=_seed_for(config.seed, step, 1))
        B = ro.responses.shape[0]
        b_mask = ro.response_mask  # (B, T)
        chunk = max(algo.minibatch_size, 1)
        with torch.no_grad():
            b_old_logprobs = _rollout_logprobs(model, ro, config.temperature, chunk)  # (B, T)
            if reference is not None:
                b_ref_logprobs = _rollout_logprobs(reference, ro, config.temperature, chunk)
            else:
                with model.disable_adapter():
                    b_ref_logprobs = _rollout_logprobs(model, ro, config.temperature, chunk)
            b_values = torch.zeros_like(b_mask)  # (B, T); critic-free estimators ignore it
            if critic is not None:
                b_values = _in_chunks(lambda s: response_values(critic, ro.input_ids[s], ro.attention_mask[s], ro.prompt_width), B, chunk) * b_mask

        # ---- 2. rewards
        programs = [program_text(p, t) for p, t in zip(ro.problems, ro.texts)]
        results = verifier(ro.problems, programs, rcfg.mask_unexecuted_lines)
        line_scores = line_scorer(ro.prompts, ro.texts) if line_scorer is not None else None
        # a few prompt tokens decoded before each response, so SentencePiece keeps its leading space
        ctx = slice(max(0, ro.prompt_width - 4), ro.prompt_width)
        context = [ro.input_ids[b, ctx][ro.attention_mask[b, ctx] == 1].tolist() for b in range(B)]
        b_rewards, b_proc_rewards, b_proc_mask, b_loss_mask, b_outcomes, rstats = shape_rewards(ro, results, line_scores, tokenizer, config, context)
        b_loss_mask = b_loss_mask * b_mask
        b_kl = ca.kl_penalty(b_old_logprobs, b_ref_logprobs, algo.kl_kind) * b_mask  # (B, T)
        b_token_rewards = b_rewards - algo.kl_coef * b_kl if algo.kl_in == "reward" else b_rewards

        # ---- 3. advantages
        estimator = ca.get_adv_est(algo.estimator)
        scores = b_outcomes if algo.estimator == "process" else None
        b_advantages, b_returns = estimator(token_level_rewards=b_token_rewards, response_mask=b_mask, values=b_values,
                                            gamma=algo.gamma, lam=algo.lam, group_index=ro.group_index, scores=scores,
                                            process_rewards=b_proc_rewards, process_mask=b_proc_mask,
                                            norm_by_std=algo.grpo_norm_by_std)
        if algo.whiten_advantages:
            b_advantages = ca.masked_whiten(b_advantages, b_loss_mask) * b_mask

        # ---- 4. update: epochs x minibatches
        gen = torch.Generator().manual_seed(_seed_for(config.seed, step, 2))
        diag: dict[str, list[float]] = {k: [] for k in ("policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac", "vf_clipfrac", "kl_loss")}
        for _epoch in range(algo.epochs):
            perm = torch.randperm(B, generator=gen)
            for start in range(0, B, algo.minibatch_size):
                mb = perm[start : start + algo.minibatch_size]
                mb_mask, mb_loss_mask = b_mask[mb], b_loss_mask[mb]
                new_logprobs, new_entropy = response_logprobs(model, ro.input_ids[mb], ro.attention_mask[mb], ro.responses[mb],
                                                              ro.prompt_width, config.temperature,
                                                              with_entropy="grad" if algo.ent_coef > 0 else "log")
                pg_loss, info = ca.policy_loss(b_old_logprobs[mb], new_logprobs, b_advantages[mb], mb_loss_mask, algo.clip_ratio)
                entropy = ca.masked_mean(new_entropy, mb_mask)
                loss = pg_loss - algo.ent_coef * entropy
                if algo.kl_in == "loss":
                    kl_loss = ca.masked_mean(ca.kl_penalty(new_logprobs, b_ref_logprobs[mb], algo.kl_kind), mb_mask)
                    loss = loss + algo.kl_coef * kl_loss
                    diag["kl_loss"].append(kl_loss.item())
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), algo.max_grad_norm)
                optimizer.step()
                if critic is not None:
                    new_values = response_values(critic, ro.input_ids[mb], ro.attention_mask[mb], ro.prompt_width)
                    v_loss, vinfo = ca.value_loss(new_values, b_values[mb], b_returns[mb], mb_mask, algo.value_clip)
                    critic_opt.zero_grad()
                    (algo.vf_coef * v_loss).backward()
                    torch.nn.utils.clip_grad_norm_(critic.parameters(), algo.max_grad_norm)
                    critic_opt.step()
                    diag["value_loss"].append(v_loss.item())
                    diag["vf_clipfrac"].append(vinfo["vf_clipfrac"])
                diag["policy_loss"].append(pg_loss.item())
                diag["entropy"].append(entropy.item())
                diag["approx_kl"].append(info["approx_kl"])
                diag["clipfrac"].append(info["clipfrac"])
            if algo.target_kl is not None and np.mean(diag["approx_kl"][-max(1, B // algo.minibatch_size):]) > algo.target_kl:
                break

        # ---- log, checkpoint, evaluate
        step += 1
        passed = [r.passed for r in results if not r.infra_error]
        row = {
            "step": step,
            "reward": ca.masked_sum(b_rewards, b_mask, dim=-1).mean().item(),
            "outcome": b_outcomes.mean().item(),
            "pass_rate": float(np.mean(passed)) if passed else 0.0,
            "kl": ca.masked_sum(b_kl, b_mask, dim=-1).mean().item(),
            "line_reward_mean": float(np.mean(rstats["line_rewards"])) if rstats["line_rewards"] else 0.0,
            "lines": float(np.mean(rstats["lines"])),
            "response_length": b_mask.sum(-1).mean().item(),
            "loss_masked_share": 1 - (b_loss_mask.sum() / b_mask.sum().clamp(min=1)).item(),
            "infra_errors": sum(r.infra_error for r in results),
            "explained_variance": ca.explained_variance(b_values, b_returns, b_mask) if critic is not None else float("nan"),
            **{k: float(np.mean(v)) for k, v in diag.items() if v},
            "step_time_s": time.time() - step_start,
        }
        log(row)
        if config.eval_every_steps and step % config.eval_every_steps == 0 or step == config.steps:
            do_eval()
        if step % config.save_every_steps == 0 or step == config.steps:
            checkpoint()
        progress.advance(row)
    progress.close()
    writer.close()
    export_policy(model, tokenizer, out / "policy")
    if own_verifier and hasattr(verifier, "close"):
        verifier.close()
    summary = {
        "steps": step,
        "final_eval_pass1": eval_history[-1][1] if eval_history else None,
        "eval_history": eval_history,
        "out": str(out),
        "policy": f"hf:{out / 'policy'}",
        "wall_s": time.time() - start_time,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def export_policy(model, tokenizer, directory: Path) -> None:
    """The trained policy as a plain ``save_pretrained`` directory (LoRA merged), loadable as ``hf:DIR``."""
    import copy

    if hasattr(model, "merge_and_unload"):
        model = copy.deepcopy(model).merge_and_unload()
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)


def _frozen_copy(model):
    import copy

    ref = copy.deepcopy(model).eval()
    for p in ref.parameters():
        p.requires_grad_(False)
    return ref


def _read_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return rows


class _Progress:
    """A rich progress bar showing the step and the latest reward / pass rate / KL."""

    def __init__(self, total: int, done: int, enabled: bool):
        self.bar = None
        if enabled and total > done:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("rl"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}"))
            self.task = self.bar.add_task("rl", total=total, completed=done, info="")
            self.bar.start()

    def advance(self, row: dict) -> None:
        if self.bar is not None:
            info = f"reward {row['reward']:+.3f} pass {row['pass_rate']:.2f} kl {row['kl']:.3f}"
            self.bar.update(self.task, advance=1, info=info)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


