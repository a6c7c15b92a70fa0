"""The training loop on a tiny random Llama with a toy verifier (no sandbox, no PRM download)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from codeprm.problems import Problem
from codeprm.rl.config import build_config
from codeprm.rl.tests.tiny import tiny_llama
from codeprm.sandbox.result import Result, TestResult

hf = pytest.importorskip("codeprm.policy.hf")

PROBLEMS = [Problem(id=f"p{i}", prompt=f"def f{i}(a, b):\n", entry_point=f"f{i}") for i in range(6)]


def toy_verifier(problems, programs, coverage=False):
    """Test k passes when the completion holds more than k letters 'a' (learnable, graded)."""
    out = []
    for problem, program in zip(problems, programs):
        completion = program[len(problem.prompt):]
        n = completion.count("a")
        lines = list(range(1, program.count("\n") + 2))[:2] if coverage else None  # pretend: only 2 lines ran
        out.append(Result(problem_id=problem.id, tests=[TestResult(status="pass" if n > k else "fail") for k in range(4)],
                          lines_executed=lines, coverage_trusted=coverage))
    return out


def toy_line_scorer(prompts, completions):
    """A 'PRM' that likes lines with an 'a' in them."""
    from codeprm.rl.rewards import line_spans

    return [[None if s.neutral else (0.9 if "a" in c[s.start:s.end] else 0.2) for s in line_spans(c)] for c in completions]


def make_policy(seed=0):
    model, tok = tiny_llama(seed)
    return hf.HFPolicy(model, tok, hf.HFPolicyConfig(batch_size=32, device="cpu"))


def base_config(tmp_path, **over):
    data = {"out": str(tmp_path / "run"), "steps": 3, "prompts_per_step": 3, "samples_per_prompt": 2, "max_new_tokens": 8,
            "eval_every_steps": 2, "progress": False, "threads": 1, "save_every_steps": 1,
            "reward": {"outcome": "pass_rate"}, "algo": {"minibatch_size": 4, "epochs": 2, "lr": 1e-3}}
    return build_config(data, over)


@pytest.mark.parametrize("estimator,extra", [
    ("gae", {"critic_init": "policy"}),
    ("gae", {"critic_init": "fresh", "reward.prm": "unused", "reward.mask_unexecuted_lines": True, "reward.line_transform": "pure_min"}),
    ("grpo", {"algo.kl_in": "loss", "algo.kl_kind": "k3"}),
    ("rloo", {}),
    ("process", {"reward.prm": "unused", "algo.kl_in": "loss"}),
])
def test_train_runs_every_estimator(tmp_path, estimator, extra):
    config = base_config(tmp_path, **{"algo.estimator": estimator, **extra})
    policy = make_policy()
    before = {k: v.clone() for k, v in policy.model.state_dict().items()}
    scorer = toy_line_scorer if config.reward.prm else None
    summary = train_toy(config, policy, scorer)
    assert summary["steps"] == 3
    rows = [json.loads(line) for line in (config.out / "metrics.jsonl").read_text().splitlines()]
    train_rows = [r for r in rows if "reward" in r]
    assert [r["step"] for r in train_rows] == [1, 2, 3]
    for key in ("reward", "pass_rate", "kl", "response_length", "policy_loss", "approx_kl", "clipfrac", "entropy"):
        assert all(r[key] == r[key] for r in train_rows), key  # finite, not NaN
    if estimator == "gae":
        assert all("value_loss" in r for r in train_rows)
    if config.reward.prm:
        assert any(r["line_reward_mean"] != 0 for r in train_rows)
    if config.reward.mask_unexecuted_lines:
        assert any(r["loss_masked_share"] > 0 for r in train_rows)
    assert [s for s, _ in summary["eval_history"]] == [0, 2, 3]
    assert (config.out / "checkpoint.pt").exists() and list((config.out / "tb").iterdir())
    changed = any(not torch.equal(before[k], v) for k, v in policy.model.state_dict().items())
    assert changed


def train_toy(config, policy, scorer=None):
    from codeprm.rl.trainer import train

    return train(config, policy=policy, verifier=toy_verifier, line_scorer=scorer, train_problems=PROBLEMS, eval_problems=PROBLEMS[:2])


def test_lora_uses_adapter_free_reference(tmp_path):
    config = base_config(tmp_path, **{"lora_rank": 4, "steps": 2})
    policy = make_policy()
    summary = train_toy(config, policy)
    assert summary["steps"] == 2
    assert any("lora" in name for name, _ in policy.model.named_parameters())


def test_grpo_learns_the_toy_reward(tmp_path):
    config = base_config(tmp_path, **{"algo.estimator": "grpo", "steps": 25, "samples_per_prompt": 4, "prompts_per_step": 4,
                                      "temperature": 1.0, "algo.lr": 3e-3, "algo.kl_coef": 0.0, "algo.max_kl": None, "eval_every_steps": 0,
                                      "save_every_steps": 25})
    summary = train_toy(config, make_policy(1))
    rows = [json.loads(line) for line in (config.out / "metrics.jsonl").read_text().splitlines() if "reward" in line]
    first = sum(r["outcome"] for r in rows[:5]) / 5
    last = sum(r["outcome"] for r in rows[-5:]) / 5
    assert summary["steps"] == 25
    assert last > first + 0.1, (first, last)


def test_prm_tokenizer_mismatch_is_refused():
    from codeprm.errors import CodeprmError
    from codeprm.rl.components import check_same_tokenizer
    from codeprm.rl.tests.tiny import tiny_tokenizer

    class Other:
        def get_vocab(self):
            return {"a": 0}

        def __len__(self):
            return 1

    check_same_tokenizer(tiny_tokenizer(), tiny_tokenizer(), "ok")
    with pytest.raises(CodeprmError, match="different tokenizer"):
        check_same_tokenizer(Other(), tiny_tokenizer(), "/some/prm")


def save_tiny_prm(path, seed=0, tokenizer=None):
    from codeprm.prm.model import PRMConfig, ProcessRewardModel

    model, tok = tiny_llama(seed)
    prm = ProcessRewardModel.from_backbone(model, tokenizer or tok, PRMConfig(mode="prm", loss="bce"))
    prm.save_pretrained(path)
    return prm


def test_dense_ppo_with_real_prm_checkpoint_and_prm_critic(tmp_path):
    """The real PRM class end to end: line scores from its head, critic = its backbone + value head."""
    pytest.importorskip("codeprm.prm.model")
    from codeprm.rl.components import build_critic, load_prm

    prm_dir = tmp_path / "prm"
    save_tiny_prm(prm_dir, seed=5)
    config = base_config(tmp_path, **{"reward.prm": str(prm_dir), "critic_init": "prm", "steps": 2})
    policy = make_policy()
    prm = load_prm(str(prm_dir))
    prompt, completion = "def f0(a, b):\n", "    x = a\n    return x\n"
    enc = prm.encode(prompt, completion)
    ids = torch.tensor([enc.input_ids])
    scores = prm.score(prompt, completion)
    for calibration in ("sigmoid", "fit"):
        critic = build_critic("prm", policy.model, str(prm_dir), calibration=calibration)
        torch.testing.assert_close(critic.head.weight, prm.value_head.weight)  # the critic starts as the PRM
        value = critic(ids, torch.ones_like(ids), torch.arange(ids.shape[1])[None])[0, enc.line_positions[1]].item()
        # sigmoid reads the head as P(pass); fit reads the raw logit (rescaled on the first batch)
        want = scores[1] if calibration == "sigmoid" else math.log(scores[1] / (1 - scores[1]))
        assert value == pytest.approx(want, abs=1e-4)
    summary = train_toy_real_prm(config, policy)
    assert summary["steps"] == 2
    rows = [json.loads(line) for line in (config.out / "metrics.jsonl").read_text().splitlines() if "reward" in line]
    assert any(r["line_reward_mean"] != 0 for r in rows)
    assert all(r["value_loss"] == r["value_loss"] for r in rows)


def train_toy_real_prm(config, policy):
    from codeprm.rl.trainer import train

    return train(config, policy=policy, verifier=toy_verifier, train_problems=PROBLEMS, eval_problems=PROBLEMS[:2])


def test_prm_with_another_tokenizer_is_refused(tmp_path):
    pytest.importorskip("codeprm.prm.model")
    from codeprm.errors import CodeprmError
    from codeprm.policy.sft import train_tokenizer

    other = train_tokenizer(["x = 1\n", "y = 2\n"] * 10, 300)
    prm_dir = tmp_path / "prm"
    save_tiny_prm(prm_dir, tokenizer=other)
    config = base_config(tmp_path, **{"reward.prm": str(prm_dir), "critic_init": "prm"})
    with pytest.raises(CodeprmError, match="different tokenizer"):
        train_toy_real_prm(config, make_policy())


def test_real_sandbox_on_synth_one_step(tmp_path):
    """Real sandbox verdicts and coverage on synth problems (the policy is random: rewards are failures)."""
    from codeprm.problems import load_benchmark

    problems = load_benchmark("synth:train")[:4]
    config = base_config(tmp_path, **{"steps": 1, "eval_every_steps": 0, "reward.mask_unexecuted_lines": True,
                                      "reward.syntax_error_penalty": -0.5, "sandbox_workers": 1})
    from codeprm.rl.trainer import train

    summary = train(config, policy=make_policy(), train_problems=problems, eval_problems=problems[:2])
    rows = [json.loads(line) for line in (config.out / "metrics.jsonl").read_text().splitlines()]
    step1 = next(r for r in rows if "reward" in r)
    assert step1["infra_errors"] == 0 and step1["pass_rate"] == 0.0
    assert step1["outcome"] <= 0.0  # random tokens: failures, mostly syntax errors (penalised)
    assert summary["final_eval_pass1"] == 0.0


def test_untrusted_coverage_masks_nothing(tmp_path):
    """A program can forge the lines it claims to have run, so coverage not vouched for never shapes the loss."""
    from codeprm.rl.trainer import train

    def forged(problems, programs, coverage=False):
        return [r.model_copy(update={"coverage_trusted": False}) for r in toy_verifier(problems, programs, coverage)]

    config = base_config(tmp_path, **{"steps": 1, "eval_every_steps": 0, "reward.mask_unexecuted_lines": True})
    train(config, policy=make_policy(), verifier=forged, train_problems=PROBLEMS, eval_problems=PROBLEMS[:2])
    rows = [json.loads(line) for line in (config.out / "metrics.jsonl").read_text().splitlines()]
    assert [r["loss_masked_share"] for r in rows if "reward" in r] == [0.0]
