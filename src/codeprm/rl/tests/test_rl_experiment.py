"""The experiment's summary: final pass@1 per method, steps for dense to reach outcome's final, files."""

import json

import pytest

from codeprm.rl.experiment import run_config, summarise


def write_curve(run_dir, points):
    run_dir.mkdir(parents=True)
    rows = [{"step": s, "eval_pass1": p} for s, p in points] + [{"step": 1, "pass_rate": 0.5, "kl": 0.01, "line_reward_mean": 0.0,
                                                                  "response_length": 30.0, "step_time_s": 2.0}]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_summarise(tmp_path):
    runs = tmp_path / "runs"
    curves = {
        "outcome": [[(0, 0.1), (5, 0.12), (10, 0.2)], [(0, 0.1), (5, 0.1), (10, 0.2)]],
        "dense": [[(0, 0.1), (5, 0.25), (10, 0.3)], [(0, 0.1), (5, 0.15), (10, 0.26)]],
        "grpo": [[(0, 0.1), (5, 0.1), (10, 0.1)], [(0, 0.1), (5, 0.1)]],  # seed 1 unfinished
    }
    for m, per_seed in curves.items():
        for seed, pts in enumerate(per_seed):
            write_curve(runs / f"{m}-seed{seed}", pts)
    (tmp_path / "out").mkdir()
    s = summarise(tmp_path / "out", runs, list(curves), [0, 1], 10, "cmd")
    assert s["outcome_final_pass1"] == pytest.approx(0.2)
    assert s["dense_final_pass1"] == pytest.approx(0.28)
    assert s["grpo_final_pass1"] == pytest.approx(0.1) and s["finished_runs"]["grpo"] == 1
    assert s["dense_steps_to_outcome_final"] == 5  # dense mean 0.2 at step 5 >= outcome's final 0.2
    assert s["outcome_steps"] == 10
    for name in ("summary.json", "table.md", "pass1_vs_step.png"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    assert "| dense | 0.280 |" in (tmp_path / "out" / "table.md").read_text()


def test_run_configs_share_the_budget(tmp_path):
    import argparse

    from codeprm.rl.config import build_config

    args = argparse.Namespace(policy="tiny", steps=7, prompts_per_step=3, samples_per_prompt=4, max_new_tokens=64, temperature=1.0,
                              eval_every=5, eval_limit=16, epochs=1, lr=1e-4, critic_lr=1e-4, kl_coef=0.01, prm_weight_pass=0.1,
                              prm_weight_fail=0.4, prm="/some/prm", train_benchmark="synth:train?seed=3", eval_benchmark="synth:heldout")
    cfgs = {m: build_config(run_config(m, 1, args, tmp_path / m)) for m in ("outcome", "dense", "grpo")}
    assert cfgs["dense"].reward.prm == "/some/prm" and cfgs["dense"].critic_init == "prm"
    assert cfgs["outcome"].reward.prm is None and cfgs["grpo"].reward.prm is None and not cfgs["grpo"].uses_critic
    for c in cfgs.values():
        assert (c.steps, c.prompts_per_step, c.samples_per_prompt, c.algo.epochs, c.seed) == (7, 3, 4, 1, 1)
