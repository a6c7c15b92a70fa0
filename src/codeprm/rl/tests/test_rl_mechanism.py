"""The pieces of the mechanism experiment: potential-based line rewards, exact-label line scores, line-local
process credit, seed-paired intervals, the habit SFT data, and the experiment's run configs."""

import numpy as np
import pytest
import torch

from codeprm.rl import core_algos as ca
from codeprm.rl import rewards as rw
from codeprm.rl.config import RewardConfig, build_config
from codeprm.stats import hierarchical_ci, hierarchical_paired_diff_ci


def test_min_delta_penalises_the_line_where_the_minimum_drops():
    assert rw.min_delta_rewards([1.0, None, 1.0, 0.0, 0.0, 1.0], 0.5) == [0.0, None, 0.0, -0.5, 0.0, 0.0]
    r = rw.min_delta_rewards([0.9, 0.6, 0.8, 0.3], 1.0)
    assert r == pytest.approx([-0.1, -0.3, 0.0, -0.3])
    # the sum is weight * (min - 1) however many lines: padding with good lines earns nothing
    long = rw.min_delta_rewards([0.9, 0.6] + [0.99] * 20, 1.0)
    assert sum(long) == pytest.approx(sum(rw.min_delta_rewards([0.9, 0.6], 1.0))) == pytest.approx(-0.4)


def test_min_delta_weight_does_not_depend_on_the_outcome_when_equal():
    cfg = RewardConfig(line_transform="min_delta", prm_weight_pass=0.5, prm_weight_fail=0.5)
    scores = [0.9, 0.2, None]
    assert rw.line_rewards_from_scores(scores, True, cfg) == rw.line_rewards_from_scores(scores, False, cfg)


def test_exact_line_scores():
    assert rw.exact_line_scores(4, 2, False) == [1.0, 1.0, 0.0, 0.0]
    assert rw.exact_line_scores(3, None, True) == [1.0, 1.0, 1.0]
    assert rw.exact_line_scores(2, None, False) == [None, None]
    assert rw.min_delta_rewards(rw.exact_line_scores(4, 2, False), 0.5) == [0.0, 0.0, -0.5, 0.0]


def test_own_line_value_spreads_a_line_reward_over_its_tokens_only():
    values = torch.tensor([[0.0, 0.0, 1.0, 0.0, 0.0, -2.0, 0.0]])
    ends = torch.tensor([[0, 0, 1, 0, 0, 1, 0]])
    assert ca.own_line_value(values, ends).tolist() == [[1.0, 1.0, 1.0, -2.0, -2.0, -2.0, 0.0]]


def test_process_line_credit_keeps_the_penalty_off_earlier_lines():
    # two samples of one group; sample 0 goes wrong on its second line (tokens 3-5)
    mask = torch.ones(2, 6)
    pr = torch.tensor([[0.0, 0.0, 0.0, 0.0, 0.0, -1.0], [0.0] * 6])
    pm = torch.tensor([[0, 0, 1, 0, 0, 1], [0, 0, 1, 0, 0, 1]])
    scores = torch.tensor([0.0, 1.0])
    kw = dict(token_level_rewards=torch.zeros(2, 6), response_mask=mask, group_index=[0, 0], scores=scores, process_rewards=pr, process_mask=pm)
    to_go, _ = ca.process(**kw, process_credit="to_go")
    line, _ = ca.process(**kw, process_credit="line")
    # to_go charges the wrong line to the correct first line too; line does not
    assert to_go[0, 0] == to_go[0, 3] < line[0, 0]
    assert line[0, 0] == pytest.approx(-1.0) and line[0, 3] == pytest.approx(-2.0)
    with pytest.raises(ValueError):
        ca.process(**kw, process_credit="nope")


def test_paired_interval_is_narrower_when_seeds_are_shared():
    rng = np.random.default_rng(0)
    seed_effect = rng.normal(0, 0.2, (5, 1))
    base = np.clip(0.3 + seed_effect + rng.normal(0, 0.05, (5, 40)), 0, 1)
    better = np.clip(base + 0.03, 0, 1)
    lo, hi = hierarchical_paired_diff_ci(better, base)
    assert 0 < lo <= 0.03 <= hi
    assert hi - lo < 0.5 * np.subtract(*hierarchical_ci(better)[::-1])
    with pytest.raises(ValueError):
        hierarchical_paired_diff_ci(better[:4], base)


def test_config_checks_line_sources():
    with pytest.raises(Exception, match="exact_lines"):
        build_config({"reward": {"exact_lines": True, "prm": "x"}})
    with pytest.raises(Exception, match="line rewards"):
        build_config({"samples_per_prompt": 2, "algo": {"estimator": "process", "kl_in": "loss"}})
    assert build_config({"samples_per_prompt": 2, "reward": {"exact_lines": True},
                         "algo": {"estimator": "process", "kl_in": "loss"}}).reward.exact_lines


def test_habit_pairs_mutate_the_configured_share_of_lines():
    from codeprm.policy.sft import habit_pairs, training_pair
    from codeprm.problems import load_benchmark

    problems = load_benchmark("synth:train?size=40&seed=3")
    pairs = habit_pairs(problems, 0.25, 2, seed=0)
    assert len(pairs) == 80
    changed = total = 0
    for k, (prompt, completion) in enumerate(pairs):
        p_clean, c_clean = training_pair(problems[k // 2])
        assert prompt == p_clean
        a, b = c_clean.splitlines(), completion.splitlines()
        assert len(a) == len(b)  # a mutant changes a line, never the line count
        changed += sum(x != y for x, y in zip(a, b))
        total += len(a) - 1
    assert 0.15 < changed / total < 0.3  # some lines have no mutant, some mutants are the same text
    assert habit_pairs(problems, 0.0, 1, seed=0) == [training_pair(p) for p in problems]


def test_mechanism_arms_build_valid_configs(tmp_path):
    from codeprm.rl.mechanism import ARMS, parse_args, run_config, start_config

    args = parse_args(["--out", str(tmp_path), "--prm", "somewhere"])
    for arm in ARMS:
        cfg = build_config(run_config(arm, 0, args, tmp_path / arm))
        assert cfg.train_stream and cfg.reward.prm_weight_pass == cfg.reward.prm_weight_fail
    assert build_config(start_config(args, tmp_path / "start")).steps == 0


def test_resume_with_another_config_is_refused_naming_the_field(tmp_path):
    from codeprm.errors import CodeprmError
    from codeprm.rl.tests.test_rl_fixes import _train
    from codeprm.rl.tests.test_rl_trainer import base_config

    _train(base_config(tmp_path, **{"steps": 2, "critic_init": "policy"}))
    # more steps and another thread count are fine: the same run, continued
    _train(base_config(tmp_path, **{"steps": 3, "critic_init": "policy", "threads": 2}))
    with pytest.raises(CodeprmError, match=r"algo\.lr: 0\.001 in the checkpoint's run, 0\.01 now"):
        _train(base_config(tmp_path, **{"steps": 4, "critic_init": "policy", "algo.lr": 1e-2}))


def test_lines_after_the_function_get_no_line_reward():
    """The PRM scores the text that runs; lines the program cut drops (a demo call after the function)
    get None, so they can earn nothing."""
    from codeprm.problems import Problem
    from codeprm.rl.rollout import _pad
    from codeprm.programs import judged_completion

    p = Problem(id="p", prompt="def f(x):\n", entry_point="f", style="completion")
    text = "    y = x + 1\n    return y\n\nprint(f(3))\nprint('more')\n"
    judged = judged_completion(p, text)
    assert "print" not in judged
    n = len(rw.line_spans(text))
    scores = _pad([0.9] * len(rw.line_spans(judged)), n)
    assert scores[:2] == [0.9, 0.9] and scores[-1] is None and len(scores) == n
