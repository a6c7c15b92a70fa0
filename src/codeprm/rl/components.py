"""The pieces the trainer wires together: policy loading, the critic, the verifier, the PRM line scorer,
and checkpoints that survive ``kill -9``."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import nn

from codeprm.errors import CodeprmError
from codeprm.problems import Problem
from codeprm.sandbox.result import Result

# (problems, programs, coverage) -> one Result per program
Verifier = Callable[[Sequence[Problem], Sequence[str], bool], list[Result]]
# (policy prompts, completions) -> per completion, one score per physical line (None = not scored)
LineScorer = Callable[[Sequence[str], Sequence[str]], list[list[float | None]]]


# ------------------------------------------------------------------------------------------ policy
def load_rl_policy(spec: str):
    """An ``HFPolicy`` (RL needs the transformers model itself, for gradients)."""
    from codeprm.policy.registry import load_policy

    policy = load_policy(spec)
    if not hasattr(policy, "model") or not hasattr(policy, "tokenizer"):
        raise CodeprmError(f"policy '{spec}' is not a local transformers model; RL needs one (tiny, embedded or hf:PATH)")
    return policy


def add_lora(model, rank: int):
    """Wrap ``model`` with LoRA adapters on every linear layer; the frozen base doubles as the reference."""
    from peft import LoraConfig, get_peft_model

    return get_peft_model(model, LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0, target_modules="all-linear"))


# ------------------------------------------------------------------------------------------ critic
class ValueModel(nn.Module):
    """A transformer backbone (no LM head) and a scalar head: one value per position.

    ``squash_scale`` > 0 reads the head as a logit: V = squash_scale * sigmoid(head) (the PRM read as
    P(pass), critic_calibration=sigmoid). With 0 the head is read as is; a PRM-initialised critic is then
    rescaled by ``calibrate_head`` on the first batch so its values are on the policy's own return scale."""

    def __init__(self, backbone: nn.Module, head: nn.Linear, squash_scale: float = 0.0):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.squash_scale = squash_scale

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor) -> torch.Tensor:
        hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids).last_hidden_state  # (B, L, H)
        values = self.head(hidden).squeeze(-1).float()  # (B, L)
        return self.squash_scale * torch.sigmoid(values) if self.squash_scale else values


def fit_affine(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> tuple[float, float]:
    """Least squares ``y ~ a*x + b`` over the positions where ``mask`` is 1; a = 0 when x is constant."""
    m = mask.to(torch.float64).flatten()
    x, y = x.to(torch.float64).flatten(), y.to(torch.float64).flatten()
    n = m.sum().clamp(min=1)
    mx, my = (x * m).sum() / n, (y * m).sum() / n
    var = (((x - mx) ** 2) * m).sum() / n
    cov = ((x - mx) * (y - my) * m).sum() / n
    a = (cov / var).item() if var > 1e-12 else 0.0
    return a, (my - a * mx).item()


@torch.no_grad()
def calibrate_head(critic: "ValueModel", a: float, b: float) -> None:
    """Rescale the head so the critic outputs ``a * old + b`` (only for an unsquashed head)."""
    if critic.squash_scale:
        raise ValueError("calibrate_head needs a raw (unsquashed) value head")
    critic.head.weight.mul_(a)
    critic.head.bias.mul_(a).add_(b)


def _hidden_size(model) -> int:
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    return int(config.hidden_size)


def _base_transformer(causal_lm) -> nn.Module:
    base = causal_lm.get_base_model() if hasattr(causal_lm, "get_base_model") else causal_lm
    return base.base_model  # e.g. LlamaForCausalLM.model: the transformer without its LM head


def build_critic(init: str, policy_model, prm_dir: str | None, outcome_scale: float = 1.0, calibration: str = "fit") -> ValueModel:
    """The critic from the PRM checkpoint (its backbone and value head: the paper's "critic initialised
    from the PRM"), from the policy's weights with a zero head (values start at 0), or from scratch.

    A PRM critic is read raw with ``calibration="fit"`` (the trainer then fits it to the first batch's
    returns), or as ``outcome_scale * sigmoid`` of a BCE head with ``"sigmoid"``."""
    if init == "prm":
        prm = load_prm(prm_dir)
        backbone = _base_transformer(prm.causal_lm())
        head = copy.deepcopy(prm.value_head)
        squash = outcome_scale if prm.config.loss == "bce" and calibration == "sigmoid" else 0.0
        return ValueModel(backbone.float(), head.float(), squash_scale=squash)
    else:
        if init == "policy":
            source = policy_model.get_base_model() if hasattr(policy_model, "get_base_model") else policy_model
            backbone = _base_transformer(copy.deepcopy(source))
        else:
            from transformers import AutoModelForCausalLM

            backbone = _base_transformer(AutoModelForCausalLM.from_config(policy_model.config))
        head = nn.Linear(_hidden_size(policy_model), 1)
        nn.init.zeros_(head.weight)
        nn.init.zeros_(head.bias)
    return ValueModel(backbone.float(), head.float())


# --------------------------------------------------------------------------------------------- PRM
def load_prm(prm_dir: str | None):
    if not prm_dir:
        raise CodeprmError("no PRM checkpoint given (reward.prm)")
    from codeprm.prm.model import ProcessRewardModel

    return ProcessRewardModel.from_pretrained(prm_dir)


def check_same_tokenizer(prm_tokenizer, policy_tokenizer, prm_dir: str) -> None:
    """Line rewards are placed on the policy's tokens and the PRM critic reads the policy's token ids:
    both only make sense when the two tokenizers are the same."""
    if prm_tokenizer.get_vocab() != policy_tokenizer.get_vocab():
        raise CodeprmError(
            f"PRM checkpoint {prm_dir} was trained on a different tokenizer (vocab {len(prm_tokenizer)}) than the policy's "
            f"(vocab {len(policy_tokenizer)}); train the PRM on the policy's backbone or pick a matching checkpoint")


def prm_line_scorer(prm, batch_size: int = 16, autocast=None) -> LineScorer:
    """The PRM's line scores; ``autocast`` is a context factory for its forward pass (bf16 on CUDA)."""
    import contextlib

    def score(prompts: Sequence[str], completions: Sequence[str]) -> list[list[float | None]]:
        with (autocast() if autocast else contextlib.nullcontext()):
            return prm.score_many(list(prompts), list(completions), batch_size=batch_size)

    return score


# ---------------------------------------------------------------------------------------- verifier
def sandbox_verifier(workers: int | None = None, stop_at_first_failure: bool = False) -> Verifier:
    """Runs programs in the sandbox; coverage (``lines_executed``) only when asked for. With
    ``stop_at_first_failure`` a failing sample's later tests are skipped: right (and much cheaper, a
    looping sample costs one time limit instead of one per test) when only ``passed`` is read."""
    import logging

    from codeprm.sandbox import Sandbox
    from codeprm.sandbox.result import TestResult

    kwargs = {"workers": workers} if workers else {}
    sandbox = Sandbox(**kwargs)

    def verify(problems: Sequence[Problem], programs: Sequence[str], coverage: bool = False) -> list[Result]:
        try:
            return sandbox.run_many(list(zip(programs, problems)), coverage=coverage, stop_at_first_failure=stop_at_first_failure)
        except Exception as exc:  # noqa: BLE001 - one bad sample must not end a long run
            logging.getLogger("codeprm.rl").warning("sandbox batch failed (%s); judging samples one by one", exc)
        results = []
        for program, problem in zip(programs, problems):
            try:
                results.append(sandbox.run(program, problem, coverage=coverage, stop_at_first_failure=stop_at_first_failure))
            except Exception as exc:  # noqa: BLE001 - reported as infra_error: masked, never scored 0
                results.append(Result(problem_id=problem.id, tests=[TestResult(status="infra_error", detail=str(exc)[:200])]))
        return results

    verify.close = getattr(sandbox, "close", lambda: None)  # type: ignore[attr-defined]
    return verify


# ------------------------------------------------------------------------------------- checkpoints
CHECKPOINT = "checkpoint.pt"


def save_checkpoint(out: Path, state: dict) -> None:
    """Write-then-rename: the file on disk is always a whole checkpoint, even after ``kill -9``."""
    tmp = out / (CHECKPOINT + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, out / CHECKPOINT)


def load_checkpoint(out: Path) -> dict | None:
    path = out / CHECKPOINT
    if not path.exists():
        return None
    return torch.load(path, map_location="cpu", weights_only=False)


def truncate_metrics(path: Path, last_step: int) -> None:
    """Drop metric rows written after the checkpoint (they will be produced again, identically)."""
    if not path.exists():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:  # a row cut by the kill
            continue
        if row.get("step", 0) <= last_step:
            keep.append(line)
    path.write_text("".join(k + "\n" for k in keep))
