"""The pipeline end to end (label -> PRM -> RL -> eval) on a tiny random model saved as hf:DIR."""

import json

import pytest
import yaml

from codeprm.errors import CodeprmError
from codeprm.pipeline import PipelineConfig, run_pipeline


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    from codeprm.rl.tests.tiny import tiny_llama

    model, tok = tiny_llama(seed=0)
    path = tmp_path_factory.mktemp("tiny_policy")
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def test_pipeline_runs_every_stage_and_resumes(tiny_model_dir, tmp_path):
    config = PipelineConfig.model_validate({
        "policy": f"hf:{tiny_model_dir}",
        "out": str(tmp_path / "run"),
        "label": {"policy": "reference", "method": "mutation", "benchmark": "synth:train?size=3&difficulty=2&seed=1",
                  "samples": 1, "mutants": 2},
        "prm": {"epochs": 1, "batch_size": 4, "max_length": 256},
        "rl": {"steps": 1, "prompts_per_step": 2, "samples_per_prompt": 2, "max_new_tokens": 8, "eval_limit": 1,
               "eval_every_steps": 0, "critic_init": "prm", "progress": False,
               "algo": {"estimator": "gae", "epochs": 1, "minibatch_size": 4}},
        "eval": {"benchmark": "synth:heldout?size=2&difficulty=2&seed=1", "limit": 2, "max_new_tokens": 8},
    })
    summary = run_pipeline(config)
    report = tmp_path / "run" / "report"
    assert summary["label"]["labeled"] >= 3  # three passing references, each with failing mutants
    assert summary["rl"]["steps"] == 1
    assert summary["pass1_before"] is not None and summary["pass1_after"] is not None
    for name in ("summary.json", "report.md", "line_view.html", "rl_curves.png", "pipeline.yaml", "rl.yaml"):
        assert (report / name).is_file(), name
    html = (report / "line_view.html").read_text()
    assert html.count('class="line scored') >= 1
    # A rerun finds every stage finished and redoes none of the work.
    again = run_pipeline(config)
    assert again["rl"]["steps"] == 1
    assert json.loads((report / "summary.json").read_text())["pass1_after"] == summary["pass1_after"]


def test_bad_config_names_the_field(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"label": {"rollouts": 0}}))
    with pytest.raises(CodeprmError, match=r"field 'label.rollouts'"):
        PipelineConfig.from_yaml(path)
    path.write_text(yaml.safe_dump({"rl": {"steps": -1}}))
    with pytest.raises(CodeprmError, match=r"steps"):
        run_pipeline(PipelineConfig.from_yaml(path, {"out": str(tmp_path / "o")}))


@pytest.mark.parametrize("name", ["quickstart.yaml", "configs/smollm2.yaml"])
def test_shipped_configs_are_valid(name):
    """The README's main job and the SmolLM2 recipe validate (every stage's fields and ranges)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    config = PipelineConfig.from_yaml(root / name)
    stages = config.stages()
    assert stages.rl.reward.prm == str(config.out / "prm")  # the RL stage reads the PRM this pipeline trains
    if name == "quickstart.yaml":  # the paper's loop: rollout labels, dense PPO with the PRM as critic
        assert (config.policy, stages.label.method, stages.rl.critic_init, stages.rl.algo.estimator) == ("tiny-habits", "binary", "prm", "gae")
        assert stages.eval.samples > 1  # a mean pass rate over samples, not one greedy decode
        assert stages.rl.train_stream  # fresh problems every step: a skill, not memorised problems
        assert stages.rl.eval_benchmark == stages.eval.benchmark  # so the stream never draws a held-out problem
