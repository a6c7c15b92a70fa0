"""Reward shaping: sandbox verdicts and PRM line scores become one reward per generated token.

- the outcome reward sits on the final token;
- each non-neutral line's PRM reward sits on that line's *line-end token* (the token covering the line's
  last character), weighted differently for programs that pass and fail, optionally divided by the
  number of lines and transformed (clip to non-positive, PURE's min-form);
- StepCoder's option masks the loss on tokens of lines the tests never executed.

Everything here is per sample and pure; the trainer stacks the rows into ``(B, T)`` tensors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from codeprm.lines import LineSpan, is_neutral, line_end_tokens, line_spans, token_char_ends  # noqa: F401 (re-exported)
from codeprm.rl.config import RewardConfig
from codeprm.sandbox.result import Result


# ----------------------------------------------------------------------------------------- outcome
def outcome_reward(result: Result, cfg: RewardConfig) -> float:
    """All-pass or pass-rate reward, plus the configured penalty for the first failing verdict."""
    base = (1.0 if result.passed else 0.0) if cfg.outcome == "all_pass" else result.pass_rate
    penalty = {"syntax_error": cfg.syntax_error_penalty, "runtime_error": cfg.runtime_error_penalty,
               "timeout": cfg.timeout_penalty}.get(result.status, 0.0)
    return cfg.outcome_scale * base + penalty


# ------------------------------------------------------------------------------------- line rewards
def transform_line_rewards(rewards: Sequence[float], cfg: RewardConfig) -> list[float]:
    """Apply the optional per-sample transforms to a sample's (already weighted) line rewards."""
    r = torch.tensor(list(rewards), dtype=torch.float64)
    if len(r) == 0:
        return []
    if cfg.divide_by_lines:
        r = r / len(r)
    if cfg.line_transform == "clip":
        r = r.clamp(max=0.0)
    elif cfg.line_transform == "pure_min":
        # PURE: sum_i softmax(-r/T)_i * r_i approaches min_i r_i as T -> 0, so the sample's return is
        # governed by its worst line instead of growing with the number of lines.
        r = torch.softmax(-r / cfg.pure_temperature, dim=0) * r
    return r.tolist()


def line_rewards_from_scores(scores: Sequence[float | None], passed: bool, cfg: RewardConfig) -> list[float | None]:
    """PRM scores (one per line, None for neutral) -> weighted, transformed line rewards (None kept)."""
    weight = cfg.prm_weight_pass if passed else cfg.prm_weight_fail
    scored = [i for i, s in enumerate(scores) if s is not None]
    if cfg.line_transform == "min_delta":
        return min_delta_rewards(scores, weight)
    raw = [weight * (float(scores[i]) - cfg.prm_center) for i in scored]
    out: list[float | None] = [None] * len(scores)
    for i, v in zip(scored, transform_line_rewards(raw, cfg)):
        out[i] = v
    return out


def min_delta_rewards(scores: Sequence[float | None], weight: float) -> list[float | None]:
    """Potential-based line rewards (Ng et al. 1999) with the running minimum of the scores as the
    potential: Phi_{-1} = 1, Phi_i = min(Phi_{i-1}, s_i), r_i = weight * (Phi_i - Phi_{i-1}) <= 0. The
    penalty lands on the line where the score first drops, later lines add nothing unless they drop it
    further, and a sample's line rewards sum to weight * (min_i s_i - 1) however many lines it has."""
    out: list[float | None] = [None] * len(scores)
    phi = 1.0
    for i, s in enumerate(scores):
        if s is None:
            continue
        new = min(phi, float(s))
        out[i] = weight * (new - phi)
        phi = new
    return out


def exact_line_scores(n_lines: int, first_error: int | None, passed: bool | None) -> list[float | None]:
    """Line scores from an exact first-error label: 1 before the first wrong line, 0 from it on; every line
    1 in a passing sample; None (no line reward) when the label is unknown for a failing sample."""
    if passed:
        return [1.0] * n_lines
    if first_error is None:
        return [None] * n_lines
    return [1.0 if i < first_error else 0.0 for i in range(n_lines)]


# ------------------------------------------------------------------------------------ coverage mask
def executed_completion_lines(lines_executed: Sequence[int] | None, prompt: str, n_lines: int) -> set[int] | None:
    """0-based completion lines the tests executed, for a completion-style program ``prompt + completion``.

    Program line numbers are 1-based; completion line i is program line ``prompt.count("\\n") + i + 1``
    (a prompt not ending in a newline shares its last line with completion line 0). None when coverage
    is unknown or empty (a program that never ran is judged by its outcome, not masked away)."""
    if not lines_executed:
        return None
    offset = prompt.count("\n")
    executed = set(lines_executed)
    return {i for i in range(n_lines) if offset + i + 1 in executed}


# ------------------------------------------------------------------------------------- per sample
@dataclass
class ShapedSample:
    token_rewards: torch.Tensor  # (T,) outcome on the final token + line rewards on line-end tokens
    process_rewards: torch.Tensor  # (T,) line rewards only
    process_mask: torch.Tensor  # (T,) 1 on line-end tokens that carry a line reward
    loss_mask: torch.Tensor  # (T,) 1 where the policy loss applies (coverage masking)
    outcome: float
    line_rewards: list[float]  # the non-neutral lines' rewards that were placed


def shape_sample(
    length: int,
    width: int,
    outcome: float,
    spans: Sequence[LineSpan],
    end_tokens: Sequence[int | None],
    line_rewards: Sequence[float | None] | None,
    executed_lines: set[int] | None,
    char_ends: Sequence[int] | None = None,
) -> ShapedSample:
    """Place one sample's rewards on its ``length`` response tokens, padded to ``width``.

    ``line_rewards`` is one value per line (None = neutral/unscored) or None for outcome-only rewards.
    ``executed_lines`` (0-based completion lines) masks the loss on tokens of non-neutral lines the tests
    never reached; tokens of neutral lines and the final token keep their loss."""
    token_rewards = torch.zeros(width)
    process_rewards = torch.zeros(width)
    process_mask = torch.zeros(width)
    loss_mask = torch.zeros(width)
    loss_mask[:length] = 1.0
    placed: list[float] = []
    if length > 0:
        token_rewards[length - 1] += outcome
    if line_rewards is not None:
        for span, tok, r in zip(spans, end_tokens, line_rewards):
            if r is None or tok is None or span.neutral or tok >= length:
                continue
            token_rewards[tok] += r
            process_rewards[tok] += r
            process_mask[tok] = 1.0
            placed.append(r)
    if executed_lines is not None and char_ends is not None:
        for span in spans:
            if span.neutral or span.index in executed_lines:
                continue
            # tokens whose text lies inside this line: char range [start, end)
            for t in range(length - 1):  # the final token always keeps its loss (it carries the outcome)
                t_start = char_ends[t - 1] if t > 0 else 0
                if t_start >= span.start and char_ends[t] <= span.end + 1 and char_ends[t] > span.start:
                    loss_mask[t] = 0.0
    return ShapedSample(token_rewards, process_rewards, process_mask, loss_mask, outcome, placed)
