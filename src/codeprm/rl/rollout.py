"""Step 1 and 2 of an RL step: sample a batch of completions, and turn their verdicts and PRM line scores
into per-token rewards. Also the forward passes the update needs (log-probs, values).

Shapes: B samples, P prompt width (left-padded), T response width (right-padded), V vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from codeprm.problems import Problem
from codeprm.programs import judged_completion, program_text
from codeprm.rl import core_algos as ca
from codeprm.rl import rewards as rw
from codeprm.rl.components import LineScorer, Verifier
from codeprm.rl.config import RLConfig
from codeprm.device import Placement


@dataclass
class Rollout:
    """One step's samples as padded tensors (on the run's device) plus what the reward stage needs."""

    input_ids: torch.Tensor  # (B, P+T) prompt (left-padded) then response (right-padded)
    attention_mask: torch.Tensor  # (B, P+T)
    responses: torch.Tensor  # (B, T)
    response_mask: torch.Tensor  # (B, T) float
    prompt_width: int
    problems: list[Problem]  # (B,) the problem of each sample
    texts: list[str]  # (B,) completion text (cut at the stop sequence)
    prompts: list[str]  # (B,) the exact text the policy continued
    group_index: torch.Tensor  # (B,) which prompt each sample answers

    @property
    def programs(self) -> list[str]:
        """What runs for each sample: the one program rule shared with ``codeprm eval``."""
        return [program_text(p, t) for p, t in zip(self.problems, self.texts)]


@dataclass
class Rewards:
    """The reward stage's output, (B, T) tensors on the run's device unless noted."""

    token_rewards: torch.Tensor  # outcome on the final token + line rewards on line-end tokens (no KL yet)
    process_rewards: torch.Tensor  # line rewards only
    process_mask: torch.Tensor  # 1 on line-end tokens carrying a line reward
    loss_mask: torch.Tensor  # 1 where the policy loss applies (infra errors and coverage masking zero it)
    outcomes: torch.Tensor  # (B,) outcome reward
    passed: list[bool | None]  # (B,) all tests passed; None = infra error (not judged)
    line_rewards: list[float]  # every placed line reward of the batch
    lines: list[int]  # (B,) non-neutral lines per sample
    neutral_share: list[float]  # (B,) share of a sample's lines that are blank or comment-only
    prm_mean: list[float | None]  # (B,) mean PRM score of a sample's lines (None without a PRM)
    exact_first_errors: list[int | None] | None = None  # (B,) exact first wrong line, when computed
    prm_line_auroc: float | None = None  # the PRM's line AUROC against the exact labels on this batch


def _positions(attention_mask: torch.Tensor) -> torch.Tensor:
    return (attention_mask.cumsum(-1) - 1).clamp(min=0)


# --------------------------------------------------------------------------------------- sampling
@torch.no_grad()
def rollout(policy, problems: Sequence[Problem], config: RLConfig, seed: int, place: Placement) -> Rollout:
    """``samples_per_prompt`` completions of each problem, padded into one batch."""
    n = config.samples_per_prompt
    prompts = [policy.prompt_for(p) for p in problems]
    with place.autocast():
        outs = policy.generate(prompts, n=n, temperature=config.temperature, top_p=config.top_p,
                               max_new_tokens=config.max_new_tokens, stop=policy.default_stop(problems[0]), seed=seed,
                               return_logprobs=True)  # also returns the sampled token ids
    prompt_ids = [policy.encode(p) for p in prompts]
    rows = [(i, c) for i in range(len(problems)) for c in outs[i]]
    P = max(len(ids) for ids in prompt_ids)
    T = max(1, max(len(c.token_ids) for _, c in rows))
    input_ids = torch.full((len(rows), P + T), policy.pad_id, dtype=torch.long)  # (B, P+T)
    attention_mask = torch.zeros((len(rows), P + T), dtype=torch.long)
    for b, (i, c) in enumerate(rows):
        ids = prompt_ids[i]
        input_ids[b, P - len(ids) : P] = torch.tensor(ids)
        attention_mask[b, P - len(ids) : P] = 1
        input_ids[b, P : P + len(c.token_ids)] = torch.tensor(c.token_ids, dtype=torch.long)
        attention_mask[b, P : P + len(c.token_ids)] = 1
    input_ids, attention_mask = input_ids.to(place.device), attention_mask.to(place.device)
    return Rollout(input_ids=input_ids, attention_mask=attention_mask, responses=input_ids[:, P:],
                   response_mask=attention_mask[:, P:].float(), prompt_width=P,
                   problems=[problems[i] for i, _ in rows], texts=[c.text for _, c in rows],
                   prompts=[prompts[i] for i, _ in rows], group_index=torch.tensor([i for i, _ in rows], device=place.device))


# --------------------------------------------------------------------------------- forward passes
def response_logprobs(model, input_ids, attention_mask, responses, temperature: float, with_entropy: bool | str = False):
    """log p(response token) under ``model`` at the sampling temperature, (B, T); and the entropy, (B, T).

    Only the T+1 last positions go through the LM head (``logits_to_keep``): the prompt's vocabulary
    logits are never needed, and on a small model they are a large share of the forward and backward cost.
    Entropy is differentiable only with ``with_entropy="grad"`` (an entropy bonus); "log" computes it
    without a graph, for logging."""
    T = responses.shape[1]
    logits = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=_positions(attention_mask),
                   logits_to_keep=T + 1).logits  # (B, T+1, V)
    logits = logits[:, :-1, :].float() / temperature  # position i predicts token i+1 -> (B, T, V)
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
    return critic(input_ids, attention_mask, _positions(attention_mask))[:, prompt_width - 1 : -1].float()


@torch.no_grad()
def batch_logprobs(model, ro: Rollout, temperature: float, chunk: int, place: Placement) -> torch.Tensor:
    """``response_logprobs`` over the whole rollout in chunks of ``chunk`` samples, (B, T)."""
    B = ro.responses.shape[0]
    with place.autocast():
        parts = [response_logprobs(model, ro.input_ids[s:s + chunk], ro.attention_mask[s:s + chunk], ro.responses[s:s + chunk],
                                   temperature)[0] for s in range(0, B, chunk)]
    return torch.cat(parts, dim=0)


@torch.no_grad()
def batch_values(critic, ro: Rollout, chunk: int, place: Placement) -> torch.Tensor:
    """The critic's values over the whole rollout, (B, T), zero on padding."""
    B = ro.responses.shape[0]
    with place.autocast():
        parts = [response_values(critic, ro.input_ids[s:s + chunk], ro.attention_mask[s:s + chunk], ro.prompt_width)
                 for s in range(0, B, chunk)]
    return torch.cat(parts, dim=0) * ro.response_mask


# ---------------------------------------------------------------------------------------- rewards
def score_rollout(ro: Rollout, verifier: Verifier, line_scorer: LineScorer | None, tokenizer, config: RLConfig) -> Rewards:
    """Run the programs in the sandbox, score their lines with the PRM, and place both on tokens."""
    results = verifier(ro.problems, ro.programs, config.reward.mask_unexecuted_lines)
    # Only lines of the text that runs get line rewards: lines after the function's end (example calls,
    # prose) never run, the PRM was trained without them, and rewarding them would be a route to hacking.
    judged = [judged_completion(p, t) for p, t in zip(ro.problems, ro.texts)]
    line_scores = None
    if line_scorer is not None:
        line_scores = [_pad(sc, len(rw.line_spans(t))) for sc, t in zip(line_scorer(ro.prompts, judged), ro.texts)]
    B, T = ro.responses.shape
    first_errors, auroc = None, None
    if config.reward.exact_lines or (line_scores is not None and config.reward.log_prm_auroc):
        first_errors = _exact_first_errors(ro, judged, results, verifier)
    if config.reward.exact_lines:
        line_scores = [_pad(rw.exact_line_scores(len(rw.line_spans(j)), fe, None if r.infra_error else r.passed), len(rw.line_spans(t)))
                       for j, t, fe, r in zip(judged, ro.texts, first_errors, results)]
    elif first_errors is not None:
        auroc = _line_auroc(line_scores, first_errors, results)
    # a few prompt tokens decoded before each response, so SentencePiece keeps its leading space
    ctx = slice(max(0, ro.prompt_width - 4), ro.prompt_width)
    shaped, lines, neutral, prm_mean = [], [], [], []
    for b in range(B):
        length = int(ro.response_mask[b].sum())
        ids = ro.responses[b, :length].tolist()
        context = ro.input_ids[b, ctx][ro.attention_mask[b, ctx] == 1].tolist()
        spans = rw.line_spans(ro.texts[b])
        char_ends = rw.token_char_ends(tokenizer, ids, context)
        result = results[b]
        line_rewards = None if line_scores is None else rw.line_rewards_from_scores(line_scores[b], result.passed, config.reward)
        executed = None
        # coverage traced inside the program can be forged: only a verifier that vouches for it masks
        if config.reward.mask_unexecuted_lines and ro.problems[b].style == "completion" and result.coverage_trusted:
            executed = rw.executed_completion_lines(result.lines_executed, ro.problems[b].prompt, len(spans))
        s = rw.shape_sample(length, T, rw.outcome_reward(result, config.reward), spans, rw.line_end_tokens(char_ends, spans),
                            line_rewards, executed, char_ends)
        if result.infra_error:  # never scored as a failure: the sample simply does not train
            s.loss_mask.zero_()
        shaped.append(s)
        lines.append(sum(not sp.neutral for sp in spans))
        neutral.append(sum(sp.neutral for sp in spans) / max(1, len(spans)))
        scored = [x for x in (line_scores[b] if line_scores is not None else []) if x is not None]
        prm_mean.append(sum(scored) / len(scored) if scored else None)
    stack = lambda name: torch.stack([getattr(s, name) for s in shaped]).to(ro.response_mask.device)  # noqa: E731 - (B, T)
    return Rewards(token_rewards=stack("token_rewards"), process_rewards=stack("process_rewards"), process_mask=stack("process_mask"),
                   loss_mask=stack("loss_mask") * ro.response_mask,
                   outcomes=torch.tensor([s.outcome for s in shaped], device=ro.response_mask.device),
                   passed=[None if r.infra_error else r.passed for r in results],
                   line_rewards=[x for s in shaped for x in s.line_rewards], lines=lines, neutral_share=neutral, prm_mean=prm_mean,
                   exact_first_errors=first_errors, prm_line_auroc=auroc)


def _pad(scores: list, n_lines: int) -> list:
    """A judged text's line scores, None for the lines of the sampled text past it."""
    return list(scores[:n_lines]) + [None] * (n_lines - len(scores))


def _exact_first_errors(ro: Rollout, texts: list[str], results, verifier: Verifier) -> list[int | None]:
    """Exact first wrong lines of the failing samples (labels/exact.py), None for the others."""
    from codeprm.labels.exact import exact_first_errors

    failing = [b for b, r in enumerate(results) if not r.infra_error and not r.passed]
    run = lambda problems, programs: [None if r.infra_error else r.passed for r in verifier(problems, programs, False)]  # noqa: E731
    found = exact_first_errors([ro.problems[b] for b in failing], [texts[b] for b in failing], run)
    out: list[int | None] = [None] * len(results)
    for b, fe in zip(failing, found):
        out[b] = fe
    return out


def _line_auroc(line_scores, first_errors, results) -> float | None:
    """AUROC of the PRM's line scores for "this prefix is on track" against the exact labels: lines of
    passing samples and lines before a failing sample's first wrong line are positives, the rest negatives."""
    from codeprm.prm.metrics import auroc

    scores, labels = [], []
    for ls, fe, r in zip(line_scores, first_errors, results):
        if r.infra_error or (not r.passed and fe is None):
            continue
        for i, x in enumerate(ls):
            if x is not None:
                scores.append(float(x))
                labels.append(1 if r.passed or i < fe else 0)
    return auroc(scores, [bool(x) for x in labels]) if 0 < sum(labels) < len(labels) else None
