"""``codeprm pipeline``: sample -> label -> PRM -> RL -> eval, end to end, into one report directory.

Every stage writes its own sub-directory and resumes from it, so an interrupted pipeline rerun with the
same config continues where it stopped. The report (``OUT/report/``) holds the tables (``report.md``,
``summary.json``), plots, the HTML line view and the configs used.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field
from rich.console import Console

from codeprm.config import StrictModel
from codeprm.errors import CodeprmError


class LabelStage(StrictModel):
    policy: str | None = Field(None, description="policy whose responses are labeled (None = the pipeline's policy); "
                               "'reference' with method 'mutation' labels mutants of the reference solutions")
    benchmark: str = Field("synth:train?size=16&difficulty=1-2&seed=0", description="problems whose responses are labeled")
    limit: int | None = Field(None, ge=1, description="label only the first LIMIT problems")
    method: str = Field("binary", description="binary | linear | mc | mutation")
    k: int = Field(2, ge=1, description="rollouts per probed prefix")
    samples: int = Field(2, ge=1, description="responses per problem")
    temperature: float = Field(0.8, ge=0, le=5, description="sampling temperature of responses and rollouts")
    max_new_tokens: int = Field(160, ge=1, description="tokens per response or rollout")
    mutants: int = Field(4, ge=0, description="mutation method: failing mutants kept per passing response")


class PRMStage(StrictModel):
    loss: str = Field("bce", description="bce | mse")
    lora: bool = Field(False, description="LoRA adapters instead of full fine-tuning")
    epochs: int = Field(2, ge=1, description="maximum epochs")
    lr: float = Field(5e-5, gt=0, description="learning rate")
    batch_size: int = Field(4, ge=1, description="texts per step")
    val_frac: float = Field(0.0, ge=0, lt=1, description="problems held out for validation (0 = none)")
    max_length: int = Field(1024, ge=8, description="tokens per text")


class EvalStage(StrictModel):
    benchmark: str = Field("humaneval", description="benchmark evaluated before and after RL")
    limit: int | None = Field(5, ge=1, description="first LIMIT problems")
    max_new_tokens: int = Field(192, ge=1, description="tokens per sample")


class PipelineConfig(StrictModel):
    policy: str = Field("embedded", description="policy spec the whole pipeline trains: embedded | tiny | hf:PATH")
    out: Path = Field(Path("runs/quickstart"), description="pipeline directory; every stage resumes from its sub-directory")
    seed: int = Field(0, description="seed of every stage")
    label: LabelStage = Field(default_factory=LabelStage)
    prm: PRMStage = Field(default_factory=PRMStage)
    rl: dict[str, Any] = Field(default_factory=dict, description="RLConfig fields (see codeprm rl); policy, out, reward.prm are filled in")
    eval: EvalStage = Field(default_factory=EvalStage)



def run_pipeline(config: PipelineConfig, console: Console | None = None) -> dict:
    """Run every stage (resuming finished ones) and write the report; returns the summary dict."""
    from codeprm.evaluate.run import EvalConfig, evaluate
    from codeprm.labels.job import LabelConfig, run_label_job
    from codeprm.prm.train import TrainConfig, train as train_prm
    from codeprm.rl import build_config, train as train_rl

    console = console or Console(stderr=True)
    out = Path(config.out)
    report = out / "report"
    report.mkdir(parents=True, exist_ok=True)
    (report / "pipeline.yaml").write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    timings: dict[str, float] = {}

    def stage(name: str):
        console.rule(f"[bold]{name}")
        timings[name] = time.time()

    def done(name: str):
        timings[name] = round(time.time() - timings[name], 1)

    # Validate the RL config before hours of work, not after.
    rl_data = {**config.rl, "policy": config.policy, "out": str(out / "rl"), "seed": config.seed}
    rl_data.setdefault("train_benchmark", config.label.benchmark)
    rl_data.setdefault("eval_benchmark", config.eval.benchmark)
    rl_data["reward"] = {**rl_data.get("reward", {}), "prm": str(out / "prm")}
    rl_config = build_config(rl_data)
    (report / "rl.yaml").write_text(rl_config.to_yaml())

    def eval_config(policy: str) -> EvalConfig:
        return EvalConfig(policy=policy, benchmark=config.eval.benchmark, limit=config.eval.limit,
                          max_new_tokens=config.eval.max_new_tokens, seed=config.seed)

    stage("eval before RL")
    before = evaluate(eval_config(config.policy), out=out / "eval_before")
    done("eval before RL")

    stage("label")
    label_config = LabelConfig(policy=config.label.policy or config.policy, benchmark=config.label.benchmark, method=config.label.method,
                               rollouts=config.label.k, samples=config.label.samples, limit=config.label.limit,
                               temperature=config.label.temperature, max_new_tokens=config.label.max_new_tokens,
                               mutants=config.label.mutants,
                               seed=config.seed)
    labels = run_label_job(label_config, out / "labels")
    (report / "label.json").write_text(labels.model_dump_json(indent=2))
    done("label")

    stage("PRM")
    if labels.labeled == 0:
        raise CodeprmError("no response got a line label (every problem was beyond the policy); "
                           "use easier label.benchmark problems or more label.samples")
    prm_config = TrainConfig(data=str(out / "labels"), base=config.policy, out=str(out / "prm"), seed=config.seed,
                             **config.prm.model_dump())
    (report / "prm.json").write_text(prm_config.model_dump_json(indent=2))
    prm_result = train_prm(prm_config)
    done("PRM")

    stage("RL")
    rl_summary = train_rl(rl_config)
    done("RL")

    stage("eval after RL")
    after = evaluate(eval_config(rl_summary["policy"]), out=out / "eval_after")
    done("eval after RL")

    stage("report")
    html_path = _line_view(out, report, config)
    plot_path = _plot_rl(out / "rl" / "metrics.jsonl", report / "rl_curves.png")
    summary = {
        "policy": config.policy,
        "eval_benchmark": config.eval.benchmark,
        "pass1_before": before.pass_at_k.get("pass@1"),
        "pass1_after": after.pass_at_k.get("pass@1"),
        "label": {k: getattr(labels, k) for k in ("responses", "labeled", "passed", "rollouts", "rollouts_per_labeled_response",
                                                  "positive_fraction", "monotonic_violations", "beyond_policy")},
        "prm_best_val": prm_result.state.best_val_loss if math.isfinite(prm_result.state.best_val_loss) else None,
        "prm_epochs": prm_result.state.epoch,
        "rl": {k: rl_summary.get(k) for k in ("steps", "final_eval_pass1", "eval_history", "wall_s")},
        "seconds": timings,
        "html": html_path.name if html_path else None,
        "plot": plot_path.name if plot_path else None,
    }
    done("report")
    (report / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    (report / "report.md").write_text(_markdown(summary))
    return summary


def _line_view(out: Path, report: Path, config: PipelineConfig) -> Path | None:
    """The HTML line view of one labeled failing response (or any response) scored by the new PRM."""
    from codeprm.labels.lines import split_lines
    from codeprm.prm.data import load_label_rows
    from codeprm.prm.html import Verdict, render_line_scores
    from codeprm.prm.model import load_reward_model

    rows = load_label_rows(out / "labels")
    if not rows:
        return None
    row = next((r for r in rows if r.first_error is not None), rows[0])
    prm = load_reward_model(out / "prm", mode="prm")
    scores = prm.score(row.policy_prompt, row.completion)
    page = render_line_scores(f"{row.problem_id} · {'passed' if row.passed else 'failed: ' + row.status}",
                              split_lines(row.completion), scores, prm.config.loss, labels=row.labels,
                              first_error=row.first_error, verdicts=[Verdict("program", row.status)],
                              prompt=row.policy_prompt, meta=f"PRM {out / 'prm'} on policy {config.policy}")
    path = report / "line_view.html"
    path.write_text(page, encoding="utf-8")
    return path


def _plot_rl(metrics: Path, path: Path) -> Path | None:
    if not metrics.is_file():
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    train = [r for r in rows if "pass_rate" in r and "step" in r]
    if not train:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    axes[0].plot([r["step"] for r in train], [r["pass_rate"] for r in train], marker="o")
    axes[0].set(xlabel="step", ylabel="train pass rate", title="RL rollouts")
    axes[1].plot([r["step"] for r in train], [r.get("reward", 0.0) for r in train], marker="o", color="tab:orange")
    axes[1].set(xlabel="step", ylabel="mean reward", title="reward (outcome + line rewards)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _markdown(summary: dict) -> str:
    def fmt(v):
        return "-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)

    lines = [f"# codeprm pipeline report: {summary['policy']}", "",
             f"| held-out ({summary['eval_benchmark']}) | pass@1 |", "|---|---|",
             f"| before RL | {fmt(summary['pass1_before'])} |", f"| after RL | {fmt(summary['pass1_after'])} |", "",
             "| labels | value |", "|---|---|"]
    lines += [f"| {k} | {fmt(v)} |" for k, v in summary["label"].items()]
    lines += ["", "| stage | seconds |", "|---|---|"] + [f"| {k} | {v} |" for k, v in summary["seconds"].items()]
    if summary.get("plot"):
        lines += ["", f"![RL curves]({summary['plot']})"]
    if summary.get("html"):
        lines += ["", f"Line view of a labeled response: [{summary['html']}]({summary['html']})"]
    return "\n".join(lines) + "\n"


def register(app, bench_app) -> None:
    import typer

    @app.command("pipeline")
    def pipeline_command(
        config: Path = typer.Option(Path("quickstart.yaml"), "--config", "-c", help="pipeline YAML"),
        out: Path | None = typer.Option(None, "--out", "-o", help="override the config's out directory"),
    ) -> None:
        """Sample -> label -> PRM -> RL -> eval end to end, with a report directory."""
        cfg = PipelineConfig.from_yaml(config, {"out": str(out)} if out else None)
        summary = run_pipeline(cfg)
        Console().print((Path(cfg.out) / "report" / "report.md").read_text())
        Console(stderr=True).print(f"report: {Path(cfg.out) / 'report'} (pass@1 {summary['pass1_before']} -> {summary['pass1_after']})")
