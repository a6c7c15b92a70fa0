"""``codeprm rl``: config file + flag overrides, bad values named, printed config round-trips."""

import yaml
from typer.testing import CliRunner

from codeprm.cli import app


def test_rl_cli_overrides_and_errors(tmp_path):
    cfg = tmp_path / "rl.yaml"
    cfg.write_text("steps: 3\nalgo:\n  estimator: grpo\nreward:\n  prm_weight_fail: 0.7\n")
    runner = CliRunner()
    res = runner.invoke(app, ["rl", "--config", str(cfg), "--steps", "9", "--set", "algo.kl_coef=0.05", "--set", "reward.line_transform=clip", "--print-config"])
    assert res.exit_code == 0, res.output
    data = yaml.safe_load(res.output)
    assert data["steps"] == 9 and data["algo"]["estimator"] == "grpo" and data["algo"]["kl_coef"] == 0.05
    assert data["reward"]["prm_weight_fail"] == 0.7 and data["reward"]["line_transform"] == "clip"
    from codeprm.rl.config import build_config

    assert build_config(data).steps == 9  # the printed config loads back
    res = runner.invoke(app, ["rl", "--config", str(cfg), "--set", "algo.clip_ratio=7"])
    assert res.exit_code != 0 and "algo.clip_ratio" in str(res.exception) and "le=1" in str(res.exception)
    res = runner.invoke(app, ["rl", "--config", str(tmp_path / "missing.yaml")])
    assert res.exit_code != 0 and "not found" in str(res.exception)


def test_rl_cli_end_to_end_smoke(tmp_path):
    """``codeprm rl`` on a saved tiny random Llama, the real sandbox and synth problems: one step, files written."""
    import json

    from codeprm.rl.tests.tiny import tiny_llama

    model, tok = tiny_llama()
    model.save_pretrained(tmp_path / "policy")
    tok.save_pretrained(tmp_path / "policy")
    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["rl", "--policy", f"hf:{tmp_path / 'policy'}", "--steps", "1", "--out", str(out), "--no-progress",
                                   "--set", "train_benchmark=synth:train?size=6", "--set", "eval_benchmark=synth:heldout?size=4",
                                   "--set", "prompts_per_step=2", "--set", "samples_per_prompt=2", "--set", "max_new_tokens=6",
                                   "--set", "sandbox_workers=1", "--set", "threads=1"])
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert json.loads(res.output.strip().splitlines()[-1])["steps"] == 1
    assert (out / "checkpoint.pt").exists() and (out / "policy" / "config.json").exists() and (out / "config.yaml").exists()
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "eval_pass1" in r] == [0, 1]
