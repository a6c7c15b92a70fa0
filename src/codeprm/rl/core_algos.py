"""The RL math as pure functions over ``(batch, tokens)`` tensors.

Every tensor here is response-only and right-padded: position ``t`` of row ``b`` is the ``t``-th generated
token of sample ``b``; ``response_mask[b, t]`` is 1 for real tokens and 0 for padding. Rewards arrive as
ordinary ``token_level_rewards`` — the outcome on the final token, PRM line rewards on line-end tokens —
so GAE and GRPO never need to know where a reward came from (verl's ``core_algos`` layout).

Advantage estimators are registered by name (``@register_adv_est("gae")``) and all share one keyword
signature; each returns ``(advantages, returns)``, both ``(B, T)`` and zero on padding.
"""

from __future__ import annotations

from typing import Callable, Literal

import torch

AdvantageFn = Callable[..., tuple[torch.Tensor, torch.Tensor]]
ADVANTAGE_ESTIMATORS: dict[str, AdvantageFn] = {}


def register_adv_est(name: str) -> Callable[[AdvantageFn], AdvantageFn]:
    def decorate(fn: AdvantageFn) -> AdvantageFn:
        ADVANTAGE_ESTIMATORS[name] = fn
        return fn

    return decorate


def get_adv_est(name: str) -> AdvantageFn:
    if name not in ADVANTAGE_ESTIMATORS:
        raise KeyError(f"unknown advantage estimator '{name}'; known: {', '.join(sorted(ADVANTAGE_ESTIMATORS))}")
    return ADVANTAGE_ESTIMATORS[name]


# --------------------------------------------------------------------------------------------- helpers
def masked_sum(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    return (x * mask).sum() if dim is None else (x * mask).sum(dim)


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Mean over the positions where ``mask`` is 1 (0 when the mask is empty, never NaN)."""
    return masked_sum(x, mask, dim) / mask.sum(dim).clamp(min=1)


def masked_var(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    mean = masked_mean(x, mask)
    return masked_mean((x - mean) ** 2, mask)


def masked_whiten(x: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True) -> torch.Tensor:
    """Normalise to unit variance over the mask (and zero mean unless ``shift_mean=False``)."""
    mean, var = masked_mean(x, mask), masked_var(x, mask)
    out = (x - mean) * torch.rsqrt(var + 1e-8)
    return out if shift_mean else out + mean


def explained_variance(values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor) -> float:
    """1 - Var[returns - values] / Var[returns]: 1 is a perfect critic, 0 no better than a constant,
    negative worse (CleanRL logs it; https://github.com/vwxyzjn/cleanrl ppo.py)."""
    var_returns = masked_var(returns, mask)
    if var_returns.item() == 0:
        return float("nan")
    return (1 - masked_var(returns - values, mask) / var_returns).item()


def last_token_index(response_mask: torch.Tensor) -> torch.Tensor:
    """Index of each row's final real token, ``(B,)`` (0 for an empty row)."""
    return (response_mask.sum(-1).long() - 1).clamp(min=0)


def _group_ids(group_index: torch.Tensor | list, device: torch.device | None = None) -> torch.Tensor:
    return torch.as_tensor(group_index, device=device)


def _leave_one_out_mean(x: torch.Tensor, group_index: torch.Tensor) -> torch.Tensor:
    """For each row, the mean of ``x`` over the *other* rows of its group, ``(B,)``; 0 for a group of one."""
    groups = _group_ids(group_index, x.device)
    out = torch.zeros_like(x)
    for g in groups.unique():
        rows = groups == g
        k = int(rows.sum())
        if k > 1:
            out[rows] = (x[rows].sum() - x[rows]) / (k - 1)
    return out


# ---------------------------------------------------------------------------------- GAE (two versions)
def gae_loop(rewards: torch.Tensor, values: torch.Tensor, response_mask: torch.Tensor, gamma: float, lam: float):
    """Readable reference GAE (CleanRL's loop), right-padded rows; the vectorised one is tested against it."""
    B, T = rewards.shape
    advantages = torch.zeros_like(rewards)
    last_gae = torch.zeros(B, dtype=rewards.dtype, device=rewards.device)
    for t in reversed(range(T)):
        next_value = values[:, t + 1] * response_mask[:, t + 1] if t + 1 < T else torch.zeros(B, device=rewards.device)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        last_gae = (delta + gamma * lam * last_gae) * response_mask[:, t]
        advantages[:, t] = last_gae
    return advantages, (advantages + values) * response_mask


@register_adv_est("gae")
def gae(token_level_rewards: torch.Tensor, response_mask: torch.Tensor, values: torch.Tensor,
        gamma: float = 1.0, lam: float = 1.0, **_) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation (Schulman et al. 2016) without a Python loop over time.

    A_t = sum_{s>=t} (gamma*lam)^(s-t) delta_s, so A = delta @ D with D[s, t] = (gamma*lam)^(s-t) for s>=t:
    one (T, T) matmul, exact for right-padded rows because delta is 0 on padding.
    """
    mask = response_mask.to(values.dtype)
    values = values * mask
    next_values = torch.cat([values[:, 1:], torch.zeros_like(values[:, :1])], dim=1)  # (B, T), 0 past the end
    deltas = (token_level_rewards + gamma * next_values - values) * mask  # (B, T)
    T = deltas.shape[1]
    steps = torch.arange(T, device=deltas.device)
    power = (steps[:, None] - steps[None, :]).to(values.dtype)  # power[s, t] = s - t
    discount = torch.where(power >= 0, (gamma * lam) ** power.clamp(min=0), torch.zeros((), device=deltas.device))  # (T, T)
    advantages = (deltas @ discount) * mask
    return advantages, (advantages + values) * mask


# ------------------------------------------------------------------------------- critic-free, outcome
def _scores_from_rewards(token_level_rewards: torch.Tensor, response_mask: torch.Tensor) -> torch.Tensor:
    return masked_sum(token_level_rewards, response_mask.to(token_level_rewards.dtype), dim=-1)  # (B,)


@register_adv_est("grpo")
def grpo(token_level_rewards: torch.Tensor, response_mask: torch.Tensor, group_index, scores: torch.Tensor | None = None,
         norm_by_std: bool = True, eps: float = 1e-6, **_) -> tuple[torch.Tensor, torch.Tensor]:
    """GRPO (Shao et al. 2024): each sample's score minus its group's mean, over the group's std.
    ``scores`` defaults to the sum of the token rewards; every token of a sample gets the same advantage."""
    s = _scores_from_rewards(token_level_rewards, response_mask) if scores is None else scores
    groups = _group_ids(group_index, s.device)
    adv = torch.zeros_like(s)
    for g in groups.unique():
        rows = groups == g
        centred = s[rows] - s[rows].mean()
        adv[rows] = centred / (s[rows].std(unbiased=True) + eps) if norm_by_std and int(rows.sum()) > 1 else centred
    adv = adv[:, None] * response_mask
    return adv, adv


@register_adv_est("rloo")
def rloo(token_level_rewards: torch.Tensor, response_mask: torch.Tensor, group_index, scores: torch.Tensor | None = None,
         **_) -> tuple[torch.Tensor, torch.Tensor]:
    """RLOO (Ahmadian et al. 2024): score minus the mean score of the other samples for the same prompt."""
    s = _scores_from_rewards(token_level_rewards, response_mask) if scores is None else scores
    adv = (s - _leave_one_out_mean(s, group_index))[:, None] * response_mask
    return adv, adv


# ------------------------------------------------------------------------------ critic-free, process
@register_adv_est("process")
def process(token_level_rewards: torch.Tensor, response_mask: torch.Tensor, group_index, scores: torch.Tensor,
            process_rewards: torch.Tensor, process_mask: torch.Tensor, process_credit: str = "to_go", **_) -> tuple[torch.Tensor, torch.Tensor]:
    """Process advantages (PRIME, Cui et al. 2025): line rewards get a leave-one-out baseline — the mean line
    reward of the group's other samples — plus the sample's RLOO outcome advantage on every token.

    ``process_credit="to_go"``: each token gets the reverse cumulative sum of the baselined line rewards
    after it (PRIME). ``"line"``: each token gets its own line's baselined reward only (the tokens after
    the previous line end through this line's end token), so a wrong line's penalty is not charged to
    the correct lines before it.

    ``scores`` (B,) are outcome rewards; ``process_rewards`` (B, T) hold line rewards on line-end tokens and
    ``process_mask`` (B, T) marks those tokens.
    """
    pmask = process_mask.to(process_rewards.dtype) * response_mask
    mean_line_reward = masked_mean(process_rewards, pmask, dim=-1)  # (B,)
    baseline = _leave_one_out_mean(mean_line_reward, group_index)  # (B,)
    baselined = (process_rewards - baseline[:, None]) * pmask  # (B, T), nonzero only on line ends
    if process_credit == "to_go":
        line_part = baselined.flip(-1).cumsum(-1).flip(-1)  # sum_{s>=t}
    elif process_credit == "line":
        line_part = own_line_value(baselined, pmask)
    else:
        raise ValueError(f"unknown process_credit '{process_credit}'; known: to_go, line")
    outcome_adv = (scores - _leave_one_out_mean(scores, group_index))[:, None]
    adv = (line_part + outcome_adv) * response_mask
    return adv, adv


def own_line_value(values: torch.Tensor, end_mask: torch.Tensor) -> torch.Tensor:
    """Each token takes ``values`` at the first marked (line-end) token at or after it, (B, T); tokens after
    a row's last marked token get 0."""
    out = torch.zeros_like(values)
    carry = torch.zeros_like(values[:, 0])
    for t in reversed(range(values.shape[1])):
        carry = torch.where(end_mask[:, t] > 0, values[:, t], carry)
        out[:, t] = carry
    return out


# ------------------------------------------------------------------------------------------- losses
def policy_loss(old_logprobs: torch.Tensor, logprobs: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor,
                clip_ratio: float = 0.2) -> tuple[torch.Tensor, dict[str, float]]:
    """PPO's clipped surrogate (Schulman et al. 2017), token-mean over ``mask``.
    Returns the loss and the diagnostics ``approx_kl`` (k3 estimator, http://joschu.net/blog/kl-approx.html)
    and ``clipfrac`` (share of tokens where the clip was active)."""
    log_ratio = logprobs - old_logprobs
    ratio = torch.exp(log_ratio)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1 - clip_ratio, 1 + clip_ratio)
    loss = masked_mean(torch.maximum(unclipped, clipped), mask)
    with torch.no_grad():
        approx_kl = masked_mean((ratio - 1) - log_ratio, mask).item()
        clipfrac = masked_mean(((ratio - 1).abs() > clip_ratio).float(), mask).item()
    return loss, {"approx_kl": approx_kl, "clipfrac": clipfrac}


def value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor,
               clip_range: float | None = 0.2) -> tuple[torch.Tensor, dict[str, float]]:
    """Half the squared error to the returns; with ``clip_range`` the new value may move at most that far
    from the rollout's value before the loss stops rewarding it (the pessimistic max of the two)."""
    unclipped = (values - returns) ** 2
    if clip_range is None:
        return 0.5 * masked_mean(unclipped, mask), {"vf_clipfrac": 0.0}
    values_clipped = old_values + torch.clamp(values - old_values, -clip_range, clip_range)
    clipped = (values_clipped - returns) ** 2
    loss = 0.5 * masked_mean(torch.maximum(unclipped, clipped), mask)
    with torch.no_grad():
        frac = masked_mean((clipped > unclipped).float(), mask).item()
    return loss, {"vf_clipfrac": frac}


def kl_penalty(logprobs: torch.Tensor, ref_logprobs: torch.Tensor, kind: Literal["k1", "k3"] = "k1") -> torch.Tensor:
    """Per-token KL(policy || reference) estimate on sampled tokens.
    k1 = log p - log q (unbiased, can be negative); k3 = q/p - 1 - log(q/p) (unbiased, always >= 0)."""
    if kind == "k1":
        return logprobs - ref_logprobs
    if kind == "k3":
        log_q_over_p = ref_logprobs - logprobs
        return torch.exp(log_q_over_p) - 1 - log_q_over_p
    raise ValueError(f"unknown kl kind '{kind}'")


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of the categorical distribution at each position, ``(B, T, V) -> (B, T)``."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(-1)


def logprobs_from_logits(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """log p(token) at each position, ``(B, T, V), (B, T) -> (B, T)``."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return logp.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
