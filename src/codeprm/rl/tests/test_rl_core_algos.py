"""The RL math alone: estimators against hand computations and against each other."""

import math

import pytest
import torch

from codeprm.rl import core_algos as ca


def right_padded_mask(lengths, T):
    return (torch.arange(T)[None, :] < torch.tensor(lengths)[:, None]).float()


@pytest.mark.parametrize("gamma,lam", [(1.0, 1.0), (1.0, 0.95), (0.9, 0.8), (0.99, 0.0)])
def test_vectorised_gae_matches_loop(gamma, lam):
    torch.manual_seed(0)
    B, T = 6, 11
    mask = right_padded_mask([11, 1, 5, 7, 0, 3], T)
    rewards = torch.randn(B, T) * mask
    values = torch.randn(B, T)  # garbage on padding on purpose: it must be ignored
    adv_v, ret_v = ca.gae(rewards, mask, values, gamma=gamma, lam=lam)
    adv_l, ret_l = ca.gae_loop(rewards, values, mask, gamma, lam)
    torch.testing.assert_close(adv_v, adv_l, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ret_v, ret_l, atol=1e-5, rtol=1e-5)
    assert (adv_v[mask == 0] == 0).all()


def test_gae_hand_computed():
    # one sample, 3 tokens, reward 1 on the last; gamma=1, lam=1 -> advantage = return - value
    rewards = torch.tensor([[0.0, 0.0, 1.0]])
    values = torch.tensor([[0.2, 0.5, 0.7]])
    adv, ret = ca.gae(rewards, torch.ones(1, 3), values, gamma=1.0, lam=1.0)
    torch.testing.assert_close(ret, torch.tensor([[1.0, 1.0, 1.0]]))
    torch.testing.assert_close(adv, torch.tensor([[0.8, 0.5, 0.3]]))
    # lam = 0: one-step TD errors
    adv0, _ = ca.gae(rewards, torch.ones(1, 3), values, gamma=1.0, lam=0.0)
    torch.testing.assert_close(adv0, torch.tensor([[0.5 - 0.2, 0.7 - 0.5, 1.0 - 0.7]]))


def test_dense_reward_moves_advantage_earlier():
    # a negative line reward on token 1 lowers the advantage of tokens 0..1 but not token 2
    values = torch.zeros(1, 3)
    mask = torch.ones(1, 3)
    sparse, _ = ca.gae(torch.tensor([[0.0, 0.0, 1.0]]), mask, values, gamma=1.0, lam=1.0)
    dense, _ = ca.gae(torch.tensor([[0.0, -0.5, 1.0]]), mask, values, gamma=1.0, lam=1.0)
    assert dense[0, 0] == pytest.approx(sparse[0, 0].item() - 0.5)
    assert dense[0, 2] == pytest.approx(sparse[0, 2].item())


def test_grpo_and_rloo():
    mask = right_padded_mask([2, 3, 1, 2], 3)
    scores = torch.tensor([1.0, 0.0, 1.0, 1.0])
    groups = [0, 0, 1, 1]
    adv, _ = ca.get_adv_est("grpo")(torch.zeros(4, 3), mask, group_index=groups, scores=scores)
    s = 1 / math.sqrt(0.5)  # std of (1, 0) with Bessel's correction is sqrt(0.5)
    assert adv[0, 0].item() == pytest.approx(0.5 * s, rel=1e-4)
    assert adv[1, 2].item() == pytest.approx(-0.5 * s, rel=1e-4)
    assert (adv[2:] == 0).all()  # identical scores -> no signal
    assert (adv[mask == 0] == 0).all()
    adv_r, _ = ca.get_adv_est("rloo")(torch.zeros(4, 3), mask, group_index=groups, scores=scores)
    assert adv_r[0, 1].item() == pytest.approx(1.0) and adv_r[1, 0].item() == pytest.approx(-1.0)
    # scores default to the sum of token rewards
    rewards = torch.zeros(4, 3)
    rewards[0, 1] = 1.0
    rewards[2, 0] = rewards[3, 1] = 1.0
    adv_default, _ = ca.get_adv_est("rloo")(rewards, mask, group_index=groups)
    torch.testing.assert_close(adv_default, adv_r)


def test_rloo_three_samples_leave_one_out():
    scores = torch.tensor([3.0, 0.0, 0.0])
    adv, _ = ca.rloo(torch.zeros(3, 1), torch.ones(3, 1), group_index=[7, 7, 7], scores=scores)
    torch.testing.assert_close(adv[:, 0], torch.tensor([3.0, -1.5, -1.5]))


def test_process_advantages():
    # two samples of one prompt; sample 0 has line rewards (+1 at t=1, -1 at t=3), sample 1 (+1 at t=0)
    T = 4
    mask = torch.ones(2, T)
    pr = torch.zeros(2, T)
    pm = torch.zeros(2, T)
    pr[0, 1], pr[0, 3], pm[0, 1], pm[0, 3] = 1.0, -1.0, 1, 1
    pr[1, 0], pm[1, 0] = 1.0, 1
    scores = torch.tensor([0.0, 1.0])
    adv, ret = ca.process(torch.zeros(2, T), mask, group_index=[0, 0], scores=scores, process_rewards=pr, process_mask=pm)
    # baselines: sample 0 -> mean line reward of sample 1 = 1; sample 1 -> mean of sample 0 = 0
    # sample 0 baselined line rewards: t1: 0, t3: -2 -> reverse cumsum [-2, -2, -2, -2]; outcome adv 0-1 = -1
    torch.testing.assert_close(adv[0], torch.tensor([-3.0, -3.0, -3.0, -3.0]))
    # sample 1: t0: 1 -> reverse cumsum [1, 0, 0, 0]; outcome adv 1-0 = 1
    torch.testing.assert_close(adv[1], torch.tensor([2.0, 1.0, 1.0, 1.0]))
    assert torch.equal(adv, ret)
    assert "process" in ca.ADVANTAGE_ESTIMATORS
    with pytest.raises(KeyError, match="known"):
        ca.get_adv_est("nope")


def test_policy_loss_clipping_and_diagnostics():
    mask = torch.ones(1, 3)
    old = torch.zeros(1, 3)
    adv = torch.ones(1, 3)
    loss, info = ca.policy_loss(old, old.clone(), adv, mask, clip_ratio=0.2)
    assert loss.item() == pytest.approx(-1.0) and info["clipfrac"] == 0 and info["approx_kl"] == pytest.approx(0)
    new = torch.log(torch.tensor([[1.5, 1.0, 0.5]]))  # ratios 1.5, 1, 0.5
    loss, info = ca.policy_loss(old, new, adv, mask, clip_ratio=0.2)
    # positive advantage: ratio clipped at 1.2 above; below, the unclipped 0.5 is the pessimistic one
    assert loss.item() == pytest.approx(-(1.2 + 1.0 + 0.5) / 3, rel=1e-5)
    assert info["clipfrac"] == pytest.approx(2 / 3)
    assert info["approx_kl"] > 0
    # gradient is zero where clipped on the favourable side
    new = new.clone().requires_grad_(True)
    ca.policy_loss(old, new, adv, mask, 0.2)[0].backward()
    assert new.grad[0, 0] == 0 and new.grad[0, 1] != 0 and new.grad[0, 2] != 0


def test_value_loss_clip():
    mask = torch.ones(1, 2)
    old = torch.tensor([[0.0, 0.0]])
    new = torch.tensor([[1.0, 0.1]])
    ret = torch.tensor([[1.0, 1.0]])
    loss, info = ca.value_loss(new, old, ret, mask, clip_range=0.2)
    # token 0: unclipped err 0, clipped value 0.2 -> err 0.64 (max); token 1: both (0.9)^2
    assert loss.item() == pytest.approx(0.5 * (0.64 + 0.81) / 2, rel=1e-5)
    assert info["vf_clipfrac"] == pytest.approx(0.5)
    loss_nc, _ = ca.value_loss(new, old, ret, mask, clip_range=None)
    assert loss_nc.item() == pytest.approx(0.5 * 0.81 / 2, rel=1e-5)


def test_kl_estimators():
    torch.manual_seed(0)
    p_logits, q_logits = torch.randn(5), torch.randn(5)
    logp, logq = torch.log_softmax(p_logits, 0), torch.log_softmax(q_logits, 0)
    exact = (logp.exp() * (logp - logq)).sum()
    samples = torch.multinomial(logp.exp(), 200_000, replacement=True)
    for kind in ("k1", "k3"):
        est = ca.kl_penalty(logp[samples], logq[samples], kind).mean()
        assert est.item() == pytest.approx(exact.item(), abs=0.02)
    assert (ca.kl_penalty(logp[samples], logq[samples], "k3") >= 0).all()
    assert torch.equal(ca.kl_penalty(logp, logp, "k1"), torch.zeros(5))


def test_entropy_logprobs_explained_variance_whiten():
    logits = torch.zeros(1, 2, 4)
    assert ca.entropy_from_logits(logits)[0, 0].item() == pytest.approx(math.log(4))
    lp = ca.logprobs_from_logits(logits, torch.tensor([[1, 3]]))
    torch.testing.assert_close(lp, torch.full((1, 2), -math.log(4)))
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    ret = torch.tensor([[1.0, 2.0, 3.0, 100.0]])
    assert ca.explained_variance(ret, ret, mask) == pytest.approx(1.0)
    assert ca.explained_variance(torch.full_like(ret, 2.0), ret, mask) == pytest.approx(0.0, abs=1e-6)
    w = ca.masked_whiten(ret, mask)
    assert ca.masked_mean(w, mask).item() == pytest.approx(0, abs=1e-5)
    assert ca.masked_var(w, mask).item() == pytest.approx(1, rel=1e-3)
    torch.testing.assert_close(ca.last_token_index(right_padded_mask([3, 1, 0], 4)), torch.tensor([2, 0, 0]))
