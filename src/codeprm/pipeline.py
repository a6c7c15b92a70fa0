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
from typing import TYPE_CHECKING, Any, NamedTuple

import yaml
from pydantic import Field, model_validator
from rich.console import Console

from codeprm.config import StrictModel, build
from codeprm.errors import CodeprmError

if TYPE_CHECKING:  # the stages import torch; the CLI imports this module at start-up
    from codeprm.evaluate.run import EvalConfig
    from codeprm.labels.job import LabelConfig
    from codeprm.prm.train import TrainConfig
    from codeprm.rl.config import RLConfig


class Stages(NamedTuple):
    label: LabelConfig
    prm: TrainConfig
    rl: RLConfig
    eval: EvalConfig


class PipelineConfig(StrictModel):
    """The whole method in one file. Each section holds fields of that stage's own config model (the one
    ``codeprm label``, ``prm train``, ``rl`` and ``eval`` build), documented there once; the pipeline
    fills in what ties the stages together: the policy, the seed, the directories and the PRM path."""

    policy: str = Field("embedded", description="policy spec the whole pipeline trains: embedded | tiny | hf:PATH")
    out: Path = Field(Path("runs/quickstart"), description="pipeline directory; every stage resumes from its sub-directory")
    seed: int = Field(0, description="seed of every stage")
    label: dict[str, Any] = Field(default_factory=dict, description="LabelConfig fields (codeprm label); policy defaults to the pipeline's")
    prm: dict[str, Any] = Field(default_factory=dict, description="TrainConfig fields (codeprm prm train); data, base and out are filled in")
    rl: dict[str, Any] = Field(default_factory=dict, description="RLConfig fields (codeprm rl); policy, out, seed and reward.prm are filled in")
    eval: dict[str, Any] = Field(default_factory=dict, description="EvalConfig fields (codeprm eval) of the held-out evaluation before and after RL")

    @model_validator(mode="after")
    def _stages_valid(self) -> "PipelineConfig":
        self.stages()  # a bad field of any stage fails here, naming it, before hours of work
        return self

    def stages(self) -> Stages:
        """The four stage configs, with the pipeline's shared fields filled in."""
        from codeprm.evaluate.run import EvalConfig
        from codeprm.labels.job import LabelConfig
        from codeprm.prm.train import TrainConfig
        from codeprm.rl.config import RLConfig

        out = Path(self.out)
        label = build(LabelConfig, {"policy": self.policy, "seed": self.seed, **self.label}, section="label")
        prm = build(TrainConfig, {**self.prm, "data": str(out / "labels"), "base": self.policy, "out": str(out / "prm"),
                                  "seed": self.seed}, section="prm")
        evaluation = build(EvalConfig, {"seed": self.seed, **self.eval, "policy": self.policy}, section="eval")
        rl = {"train_benchmark": label.benchmark, "eval_benchmark": evaluation.benchmark, **self.rl,
              "policy": self.policy, "out": str(out / "rl"), "seed": self.seed}
        rl["reward"] = {**rl.get("reward", {}), "prm": str(out / "prm")}
        return Stages(label, prm, build(RLConfig, rl, section="rl"), evaluation)


def run_pipeline(config: PipelineConfig, console: Console | None = None) -> dict:
    """Run every stage (resuming finished ones) and write the report; returns the summary dict."""
    from codeprm.evaluate.run import evaluate
    from codeprm.labels.job import run_label_job
    from codeprm.prm.train import train as train_prm
    from codeprm.rl import train as train_rl

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

    stages = config.stages()
    (report / "rl.yaml").write_text(stages.rl.to_yaml())

    stage("eval before RL")
    before = evaluate(stages.eval, out=out / "eval_before")
    done("eval before RL")

    stage("label")
    labels = run_label_job(stages.label, out / "labels")
    (report / "label.json").write_text(labels.model_dump_json(indent=2))
    done("label")

    stage("PRM")
    if labels.labeled == 0:
        raise CodeprmError("no response got a line label (every problem was beyond the policy); "
                           "use easier label.benchmark problems or more label.samples")
    (report / "prm.json").write_text(stages.prm.model_dump_json(indent=2))
    prm_result = train_prm(stages.prm)
    done("PRM")

    stage("RL")
    rl_summary = train_rl(stages.rl)
    done("RL")

    stage("eval after RL")
    after = evaluate(stages.eval.model_copy(update={"policy": rl_summary["policy"]}), out=out / "eval_after")
    done("eval after RL")

    stage("report")
    html_path = _line_view(out, report, config)
    plot_path = _plot_rl(out / "rl" / "metrics.jsonl", report / "rl_curves.png")
    summary = {
        "policy": config.policy,
        "eval_benchmark": stages.eval.benchmark,
        "eval_samples": stages.eval.samples,
        "pass1_before": before.pass_at_k.get("pass@1"),
        "pass1_after": after.pass_at_k.get("pass@1"),
        **_before_after(before, after),
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


def _before_after(before, after) -> dict:
    """Held-out pass rate (the mean over problems of each problem's share of passing samples) before and
    after RL, with bootstrap 95% intervals over problems, and the paired difference."""
    from codeprm.stats import bootstrap_ci, paired_bootstrap_ci

    ids = [pid for pid in before.per_problem if pid in after.per_problem]
    b, a = ([s.per_problem[pid][1] / max(1, s.per_problem[pid][0]) for pid in ids] for s in (before, after))
    diff, low, high = paired_bootstrap_ci(a, b)
    return {"problems": len(ids), "pass1_before_ci95": list(bootstrap_ci(b)), "pass1_after_ci95": list(bootstrap_ci(a)),
            "after_minus_before": diff, "after_minus_before_ci95": [low, high]}


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

    def ci(v):
        return "-" if v is None or any(x != x for x in v) else f"[{v[0]:.3f}, {v[1]:.3f}]"

    lines = [f"# codeprm pipeline report: {summary['policy']}", "",
             f"Held-out: {summary['eval_benchmark']}, {summary['problems']} problems x {summary['eval_samples']} samples; "
             "pass@1 is the mean over problems of the share of passing samples; 95% intervals bootstrap the problems.", "",
             "| held-out | pass@1 | 95% CI |", "|---|---|---|",
             f"| before RL | {fmt(summary['pass1_before'])} | {ci(summary['pass1_before_ci95'])} |",
             f"| after RL | {fmt(summary['pass1_after'])} | {ci(summary['pass1_after_ci95'])} |",
             f"| after - before (paired) | {fmt(summary['after_minus_before'])} | {ci(summary['after_minus_before_ci95'])} |", "",
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

    from codeprm.config import parse_sets

    @app.command("pipeline")
    def pipeline_command(
        config: Path = typer.Option(Path("quickstart.yaml"), "--config", "-c", help="pipeline YAML"),
        out: Path | None = typer.Option(None, "--out", "-o", help="override the config's out directory"),
        sets: list[str] = typer.Option([], "--set", help="KEY=VALUE override, dotted into sections (rl.steps=10, label.rollouts=8)"),
    ) -> None:
        """Sample -> label -> PRM -> RL -> eval end to end, with a report directory."""
        cfg = PipelineConfig.from_yaml(config, {**({"out": str(out)} if out else {}), **parse_sets(sets)})
        summary = run_pipeline(cfg)
        Console().print((Path(cfg.out) / "report" / "report.md").read_text())
        Console(stderr=True).print(f"report: {Path(cfg.out) / 'report'} (pass@1 {summary['pass1_before']} -> {summary['pass1_after']})")
