"""The experiment: every arm gets the same budget, the summary's keys and intervals, the bootstrap."""

import argparse
import json

import numpy as np
import pytest

from codeprm.rl.experiment import ARMS, run_config
from codeprm.rl.report import summarise
from codeprm.stats import hierarchical_ci as bootstrap_mean_ci, hierarchical_diff_ci as bootstrap_diff_ci


def write_evals(run_dir, points, metrics=True):
    """``points``: {step: per-problem pass counts out of 8}, one set ``heldout`` and a copy as ``unseen``."""
    run_dir.mkdir(parents=True)
    rows = [{"step": s, "heldout": {"passes": c, "judged": [8] * len(c)}, "unseen": {"passes": c, "judged": [8] * len(c)}}
            for s, c in points.items()]
    (run_dir / "evals.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if metrics:
        row = {"step": 1, "reward": 0.1, "pass_rate": 0.5, "kl": 0.01, "line_reward_mean": 0.0, "response_length": 30.0, "lines": 3.0,
               "neutral_line_share": 0.1, "step_time_s": 2.0}
        (run_dir / "metrics.jsonl").write_text(json.dumps(row) + "\n")


def test_summarise(tmp_path):
    runs = tmp_path / "runs"
    P = 20
    write_evals(runs / "start", {0: [2] * P}, metrics=False)  # 0.25 on every problem
    for seed in (0, 1, 2):
        write_evals(runs / f"outcome-seed{seed}", {5: [2] * P, 10: [3] * P})  # 0.375
        write_evals(runs / f"dense-seed{seed}", {5: [4] * P, 10: [5] * P})  # 0.5 at step 5, 0.625 at 10
    write_evals(runs / "grpo-seed0", {5: [2] * P})  # unfinished
    s = summarise(tmp_path / "out", runs, ["outcome", "dense", "grpo"], [0, 1, 2], 10, "cmd")
    assert s["start_pass1"] == pytest.approx(0.25)
    assert s["outcome_final_pass1"] == pytest.approx(0.375) and s["dense_final_pass1"] == pytest.approx(0.625)
    assert s["grpo_final_pass1"] is None and s["finished_runs"] == {"outcome": 3, "dense": 3, "grpo": 0}
    assert s["dense_minus_outcome_ci95"] == pytest.approx([0.25, 0.25])  # no variance anywhere: a point interval
    assert s["dense_minus_start_ci95"] == pytest.approx([0.375, 0.375])
    assert s["dense_steps_to_outcome_final"] == 5 and s["outcome_steps"] == 10 and s["seeds"] == [0, 1, 2]
    assert all(s["goals"].values())
    for name in ("summary.json", "table.md", "pass1_vs_step.png"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    assert "| dense | 3 | 0.625 |" in (tmp_path / "out" / "table.md").read_text()


def test_bootstrap_intervals():
    rng = np.random.default_rng(0)
    # 5 seeds whose means differ by a seed effect, 40 problems each
    seed_effect = np.array([-0.1, -0.05, 0.0, 0.05, 0.1])
    runs = 0.5 + seed_effect[:, None] + rng.normal(0, 0.05, (5, 40))
    lo, hi = bootstrap_mean_ci(runs, n_boot=2000)
    assert lo < runs.mean() < hi
    # resampling problems alone would ignore the seed effect: the hierarchical interval is wider
    flat_means = [runs[:, rng.integers(0, 40, 40)].mean() for _ in range(2000)]
    assert hi - lo > np.percentile(flat_means, 97.5) - np.percentile(flat_means, 2.5)
    better = runs + 0.2
    dlo, dhi = bootstrap_diff_ci(better, runs, n_boot=2000)
    assert 0 < dlo < 0.2 < dhi
    with pytest.raises(ValueError, match="different problem counts"):
        bootstrap_diff_ci(runs, runs[:, :10])


def test_run_configs_share_the_budget(tmp_path):
    from codeprm.rl.config import build_config

    args = argparse.Namespace(policy="tiny", steps=7, prompts_per_step=3, samples_per_prompt=4, minibatch_size=6, max_new_tokens=64,
                              temperature=1.0, eval_every=5, eval_limit=16, eval_samples=8, epochs=1, lr=1e-4, critic_lr=1e-4,
                              kl_coef=0.01, target_kl=0.05, critic_warmup_epochs=2, prm_weight_pass=0.1, prm_weight_fail=0.4,
                              prm="/some/prm", regime=tmp_path / "regime")
    cfgs = {m: build_config(run_config(m, 1, args, tmp_path / m)) for m in ARMS}
    assert cfgs["dense"].reward.prm == "/some/prm" and cfgs["dense"].critic_init == "prm" and cfgs["dense"].critic_warmup_epochs == 2
    assert cfgs["grpo_process"].reward.prm == "/some/prm" and cfgs["grpo_process"].algo.estimator == "process"
    assert cfgs["outcome"].reward.prm is None and cfgs["grpo"].reward.prm is None and not cfgs["grpo"].uses_critic
    assert cfgs["grpo"].algo.kl_estimator == "k3"
    for c in cfgs.values():
        assert (c.steps, c.prompts_per_step, c.samples_per_prompt, c.algo.epochs, c.seed, c.eval_samples) == (7, 3, 4, 1, 1, 8)
        assert c.train_benchmark.endswith("rl_train.jsonl") and c.eval_unseen_benchmark.endswith("heldout_unseen.jsonl")
