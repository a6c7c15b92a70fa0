"""Reward shaping: line boundaries, outcome verdicts, line-reward weights and transforms, coverage masks."""

import math

import pytest
import torch

from codeprm.rl import rewards as rw
from codeprm.rl.config import RewardConfig
from codeprm.rl.tests.tiny import tiny_tokenizer
from codeprm.sandbox.result import Result, TestResult


def result(*statuses):
    return Result(problem_id="p", tests=[TestResult(status=s) for s in statuses])


def test_line_spans_and_neutral():
    text = "    x = 1\n\n    # note\n    return x\n"
    spans = rw.line_spans(text)
    assert [s.neutral for s in spans] == [False, True, True, False]
    assert [text[s.start:s.end] for s in spans] == ["    x = 1", "", "    # note", "    return x"]
    assert len(rw.line_spans("a\nb")) == 2 and rw.line_spans("a\nb")[1].end == 3


def test_line_end_token_covers_last_character():
    tok = tiny_tokenizer()
    completion = "    y = a + b\n    # why\n    return y\n"
    ids = tok(completion, add_special_tokens=False)["input_ids"]
    ends = rw.token_char_ends(tok, ids)
    assert ends[-1] == len(completion)
    spans = rw.line_spans(completion)
    end_tokens = rw.line_end_tokens(ends, spans)
    for span, t in zip(spans, end_tokens):
        start = ends[t - 1] if t > 0 else 0
        # the chosen token's text range contains the line's last character
        assert start <= span.end - 1 < ends[t]
    # a line the tokens never reach (truncated generation) has no end token
    assert rw.line_end_tokens(ends[:3], spans)[-1] is None


def test_outcome_reward_modes_and_penalties():
    cfg = RewardConfig(syntax_error_penalty=-0.5, runtime_error_penalty=-0.3, timeout_penalty=-0.2)
    assert rw.outcome_reward(result("pass", "pass"), cfg) == 1.0
    assert rw.outcome_reward(result("pass", "fail"), cfg) == 0.0
    assert rw.outcome_reward(result("syntax_error"), cfg) == -0.5
    assert rw.outcome_reward(result("pass", "runtime_error"), cfg) == -0.3
    assert rw.outcome_reward(result("timeout"), cfg) == -0.2
    rate = RewardConfig(outcome="pass_rate", outcome_scale=2.0, runtime_error_penalty=-0.1)
    assert rw.outcome_reward(result("pass", "runtime_error", "pass", "fail"), rate) == pytest.approx(2 * 0.5 - 0.1)


def test_line_rewards_weights_and_transforms():
    scores = [0.9, None, 0.1, 0.6]
    cfg = RewardConfig(prm_weight_pass=0.5, prm_weight_fail=2.0, prm_center=0.5)
    assert rw.line_rewards_from_scores(scores, True, cfg) == pytest.approx([0.2, None, -0.2, 0.05])
    assert rw.line_rewards_from_scores(scores, False, cfg)[2] == pytest.approx(-0.8)
    div = RewardConfig(prm_weight_fail=1.0, divide_by_lines=True)
    assert rw.line_rewards_from_scores(scores, False, div) == pytest.approx([0.4 / 3, None, -0.4 / 3, 0.1 / 3])
    clip = RewardConfig(prm_weight_fail=1.0, line_transform="clip")
    assert rw.line_rewards_from_scores(scores, False, clip) == pytest.approx([0.0, None, -0.4, 0.0])
    pure = RewardConfig(prm_weight_fail=1.0, line_transform="pure_min", pure_temperature=0.01)
    out = rw.line_rewards_from_scores(scores, False, pure)
    assert sum(v for v in out if v is not None) == pytest.approx(-0.4, abs=1e-3)  # ~ the minimum
    warm = RewardConfig(prm_weight_fail=1.0, line_transform="pure_min", pure_temperature=1.0)
    r = torch.tensor([0.4, -0.4, 0.1])
    expected = (torch.softmax(-r, 0) * r).tolist()
    assert [v for v in rw.line_rewards_from_scores(scores, False, warm) if v is not None] == pytest.approx(expected)


def test_shape_sample_places_rewards_and_masks_unexecuted_lines():
    tok = tiny_tokenizer()
    completion = "    if a > 0:\n        return a\n    # neg\n    return -a\n"
    ids = tok(completion, add_special_tokens=False)["input_ids"]
    ends = rw.token_char_ends(tok, ids)
    spans = rw.line_spans(completion)
    end_tokens = rw.line_end_tokens(ends, spans)
    line_rewards = [0.1, -0.2, None, 0.3]
    width = len(ids) + 3
    shaped = rw.shape_sample(len(ids), width, 1.0, spans, end_tokens, line_rewards, executed_lines={0, 1}, char_ends=ends)
    assert shaped.token_rewards.shape == (width,)
    assert shaped.token_rewards.sum().item() == pytest.approx(1.0 + 0.1 - 0.2 + 0.3)
    # the final token is the newline: it carries the outcome, the token before it the last line's reward
    assert end_tokens[3] == len(ids) - 2
    assert shaped.token_rewards[len(ids) - 1].item() == pytest.approx(1.0)
    assert shaped.token_rewards[end_tokens[3]].item() == pytest.approx(0.3)
    assert shaped.process_mask.sum().item() == 3 and shaped.line_rewards == [0.1, -0.2, 0.3]
    assert shaped.token_rewards[len(ids):].abs().sum() == 0 and shaped.loss_mask[len(ids):].sum() == 0
    # line 3 ("    return -a") was never executed: its tokens lose their loss, except the final token
    masked = [t for t in range(len(ids)) if shaped.loss_mask[t] == 0]
    assert masked, "some tokens of the unexecuted line must be masked"
    for t in masked:
        assert ends[t] > spans[3].start
    assert shaped.loss_mask[len(ids) - 1] == 1
    assert all(shaped.loss_mask[t] == 1 for t in range(len(ids)) if ends[t] <= spans[1].end)
    # outcome-only: nothing but the final token
    plain = rw.shape_sample(len(ids), width, -0.5, spans, end_tokens, None, None)
    assert plain.token_rewards.nonzero().flatten().tolist() == [len(ids) - 1]
    assert plain.loss_mask.sum().item() == len(ids)


def test_executed_completion_lines_mapping():
    prompt = "def f(a):\n    \"\"\"doc\"\"\"\n"  # 2 prompt lines; completion line 0 is program line 3
    assert rw.executed_completion_lines([1, 3, 5], prompt, 4) == {0, 2}
    assert rw.executed_completion_lines([], prompt, 4) is None
    assert rw.executed_completion_lines(None, prompt, 4) is None


def test_reward_config_range_errors_name_the_field():
    from codeprm.errors import CodeprmError
    from codeprm.rl.config import build_config

    with pytest.raises(CodeprmError, match=r"reward.prm_weight_fail.*le=10"):
        build_config({"reward": {"prm_weight_fail": 50}})
    with pytest.raises(CodeprmError, match=r"algo.clip_ratio"):
        build_config({}, {"algo.clip_ratio": -1})
    with pytest.raises(CodeprmError, match=r"steps"):
        build_config({"steps": "many"})
    with pytest.raises(CodeprmError, match=r"samples_per_prompt >= 2"):
        build_config({"samples_per_prompt": 1, "algo": {"estimator": "grpo"}})
    cfg = build_config({"steps": 3}, {"reward.line_transform": "clip", "algo.estimator": "rloo"})
    assert cfg.steps == 3 and cfg.reward.line_transform == "clip" and not cfg.uses_critic
    assert not math.isnan(cfg.algo.lr)
