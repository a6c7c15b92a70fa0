"""The fixes of issue 13: precision and device placement, GRPO's k3 KL, the calibrated PRM critic and its
warm-up, lambda 1, target_kl, the KL-explosion stop, and the sometimes-solved regime filter."""

from __future__ import annotations

import json

import pytest
import torch

from codeprm.errors import CodeprmError
from codeprm.rl import core_algos as ca
from codeprm.rl.config import RLConfig, build_config
from codeprm.rl.tests.test_rl_trainer import PROBLEMS, base_config, make_policy, save_tiny_prm, toy_verifier


def _train(config, policy=None, **kw):
    from codeprm.rl.trainer import train

    return train(config, policy=policy or make_policy(), verifier=toy_verifier, train_problems=PROBLEMS, eval_problems=PROBLEMS[:2], **kw)


def _rows(config, key="reward"):
    return [json.loads(line) for line in (config.out / "metrics.jsonl").read_text().splitlines() if key in line]


# ------------------------------------------------------------------------------------- placement
def test_placement_resolution():
    from codeprm.device import resolve_placement

    cpu = resolve_placement("cpu", "auto")
    assert cpu.device.type == "cpu" and cpu.autocast_dtype is None
    assert resolve_placement("cpu", "bf16").autocast_dtype == torch.bfloat16
    assert resolve_placement("cpu", "fp32").autocast_dtype is None
    if not torch.cuda.is_available():
        assert resolve_placement("auto", "auto").device.type == "cpu"


def test_bf16_autocast_keeps_float32_master_weights(tmp_path):
    """A policy handed over in bf16 trains as float32 weights under bf16 autocast (CPU autocast here; the
    CUDA path is the same code), and an update below bf16's resolution still changes the weights."""
    policy = make_policy()
    policy.model.to(torch.bfloat16)
    config = base_config(tmp_path, **{"precision": "bf16", "device": "cpu", "steps": 2, "algo.lr": 1e-6, "critic_init": "policy"})
    before = {k: v.float().clone() for k, v in policy.model.state_dict().items()}
    _train(config, policy)
    params = dict(policy.model.named_parameters())
    assert all(p.dtype == torch.float32 for p in params.values())
    # lr 1e-6 moves a weight of ~0.02 by ~1e-6: lost in bf16 (resolution ~1e-4 there), kept in float32
    moved = [k for k, v in policy.model.state_dict().items() if not torch.equal(before[k], v)]
    assert moved
    assert all(r["policy_loss"] == r["policy_loss"] for r in _rows(config))


def test_core_algos_follow_the_tensors_device():
    """No tensor is created on the default device behind the caller's back (meta tensors would fail)."""
    values = torch.zeros(2, 4, device="meta")
    adv, ret = ca.gae(torch.zeros(2, 4, device="meta"), torch.ones(2, 4, device="meta"), values)
    assert adv.device.type == "meta" and ret.device.type == "meta"


# ------------------------------------------------------------------------------------------- KL
def test_k3_in_the_loss_has_a_gradient_and_k1_is_refused():
    """On-policy, E_p[grad k1] = sum_x p(x) grad log p(x) = 0 exactly; k3's expectation pulls p toward q."""
    logits = torch.tensor([0.5, -0.2, 1.0], requires_grad=True)
    ref = torch.log_softmax(torch.tensor([0.0, 0.0, 0.0]), -1)
    logp = torch.log_softmax(logits, -1)
    p = logp.exp().detach()  # expectation over on-policy samples, each weighted by its probability
    (g1,) = torch.autograd.grad((p * ca.kl_penalty(logp, ref, "k1")).sum(), logits, retain_graph=True)
    (g3,) = torch.autograd.grad((p * ca.kl_penalty(logp, ref, "k3")).sum(), logits)
    assert g1.abs().max() < 1e-6
    assert g3.abs().max() > 1e-2
    # the policy's favourite (logit 1.0 vs uniform reference) is pushed down
    assert g3[2] > 0
    with pytest.raises(CodeprmError, match="k1.s expected gradient is zero on-policy"):
        build_config({"algo": {"estimator": "grpo", "kl_in": "loss", "kl_kind": "k1"}})
    assert build_config({"algo": {"estimator": "grpo", "kl_in": "loss"}}).algo.kl_estimator == "k3"
    assert RLConfig().algo.kl_estimator == "k1"  # in the reward: k1 (its sum over tokens is unbiased)


def test_lambda_defaults_to_monte_carlo():
    assert RLConfig().algo.lam == 1.0


# --------------------------------------------------------------------------------- critic init
def test_fit_affine_and_calibrate_head():
    from codeprm.rl.components import ValueModel, calibrate_head, fit_affine

    x = torch.tensor([[0.0, 1.0, 2.0, 9.0]])
    y = 3.0 * x - 1.0
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    y[0, 3] = 100.0  # padding: ignored
    a, b = fit_affine(x, y, mask)
    assert a == pytest.approx(3.0) and b == pytest.approx(-1.0)
    assert fit_affine(torch.ones(1, 3), torch.tensor([[0.0, 1.0, 2.0]]), torch.ones(1, 3)) == pytest.approx((0.0, 1.0))

    class Backbone(torch.nn.Module):
        def forward(self, input_ids, attention_mask, position_ids):
            return type("O", (), {"last_hidden_state": input_ids.float()[..., None].repeat(1, 1, 2)})()

    head = torch.nn.Linear(2, 1)
    critic = ValueModel(Backbone(), head)
    ids = torch.tensor([[1, 2, 3]])
    old = critic(ids, None, None)
    calibrate_head(critic, 0.5, 2.0)
    torch.testing.assert_close(critic(ids, None, None), 0.5 * old + 2.0)


def test_prm_critic_is_calibrated_on_the_first_batch_and_warmed_up(tmp_path):
    prm_dir = tmp_path / "prm"
    save_tiny_prm(prm_dir, seed=5)
    common = {"reward.prm": str(prm_dir), "critic_init": "prm", "steps": 2, "reward.outcome": "pass_rate", "eval_every_steps": 0}
    fitted = base_config(tmp_path / "fit", **common)
    _train(fitted)
    first, second = _rows(fitted)
    assert "critic_calib_a" in first and "critic_calib_a" not in second  # once, on a fresh run's first batch
    # a critic read as sigmoid(PRM) starts off the returns' scale; value-only warm-up epochs pull it toward them
    warmed = base_config(tmp_path / "warm", **common, **{"critic_calibration": "sigmoid", "critic_warmup_epochs": 4, "algo.critic_lr": 1e-3})
    _train(warmed)
    first = _rows(warmed)[0]
    assert "critic_calib_a" not in first
    assert first["critic_warmup_loss_last"] < first["critic_warmup_loss_first"]


# ----------------------------------------------------------------------------------- stopping
def test_target_kl_stops_the_epochs_early(tmp_path):
    # 6 samples, minibatch 2, 3 epochs = 9 updates unless stopped; the first minibatch is on-policy
    # (an entropy bonus: the random toy policy's rewards may all be equal, leaving no policy gradient)
    common = {"samples_per_prompt": 2, "prompts_per_step": 3, "algo.minibatch_size": 2, "algo.epochs": 3, "algo.lr": 1e-2, "steps": 2,
              "critic_init": "policy", "algo.ent_coef": 0.5}
    free = base_config(tmp_path / "a", **common)
    _train(free)
    assert all(r["updates"] == 9 and r["early_stopped"] == 0 for r in _rows(free))
    capped = base_config(tmp_path / "b", **common, **{"algo.target_kl": 1e-6})
    _train(capped)
    rows = _rows(capped)
    assert all(1 <= r["updates"] < 9 and r["early_stopped"] == 1 for r in rows)


def test_kl_explosion_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    from codeprm.rl.components import load_checkpoint

    common = {"steps": 6, "save_every_steps": 1, "eval_every_steps": 0, "algo.lr": 1e-2, "algo.kl_coef": 0.0, "critic_init": "policy",
              "samples_per_prompt": 4, "prompts_per_step": 3, "algo.minibatch_size": 6}
    free = base_config(tmp_path / "a", **common, **{"algo.max_kl": None})
    _train(free)
    kls = [r["kl"] for r in _rows(free)]  # kls[i]: the policy after i updates, measured on step i+1's samples
    i = next(i for i in range(2, len(kls)) if kls[i] > max(kls[:i]))  # first new maximum after step 1
    limit = (max(kls[:i]) + kls[i]) / 2
    capped = base_config(tmp_path / "b", **common, **{"algo.max_kl": limit})
    with pytest.raises(CodeprmError, match=rf"stopped at step {i}: the policy's KL to the reference is {kls[i]:.2f} nats"):
        _train(capped)
    kept = load_checkpoint(capped.out)
    assert kept["step"] == i - 1  # the last policy whose samples stayed below the limit
    assert json.loads((capped.out / "summary.json").read_text())["stopped"].startswith(f"stopped at step {i}")


# --------------------------------------------------------------------------------------- regime
def test_regime_keeps_problems_solved_sometimes(tmp_path):
    from codeprm.policy.base import Completion
    from codeprm.rl.regime import build_regime, sometimes

    assert [p.id for p in sometimes(PROBLEMS[:4], [0, 1, 6, 8], 1, 6)] == ["p1", "p2"]

    class Fake:
        """Sample s of problem i holds 'aaaa' (the toy verifier's pass) when s < i: problem i passes i of 8."""

        def prompt_for(self, problem):
            return problem.prompt

        def default_stop(self, problem):
            return []

        def generate(self, prompts, n, **kw):
            return [[Completion(text="aaaaa" if s < i else "b") for s in range(n)] for i, _ in enumerate(prompts)]

    info = build_regime(Fake(), toy_verifier, tmp_path, PROBLEMS, PROBLEMS[:3], n=8, lo=1, hi=4, heldout_size=2)
    assert info["train_pass_hist"] == {0: 1, 1: 1, 2: 1, 3: 1, 4: 1, 5: 1}
    same = [json.loads(line)["id"] for line in (tmp_path / "heldout_same.jsonl").read_text().splitlines()]
    train = [json.loads(line)["id"] for line in (tmp_path / "rl_train.jsonl").read_text().splitlines()]
    assert len(same) == 2 and len(train) == 2 and set(same) | set(train) == {"p1", "p2", "p3", "p4"}
    unseen = [json.loads(line)["id"] for line in (tmp_path / "heldout_unseen.jsonl").read_text().splitlines()]
    assert unseen == ["p1", "p2"]
