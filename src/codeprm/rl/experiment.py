"""The dense-vs-outcome experiment: outcome-only PPO, dense-PRM PPO with the PRM-initialised critic, and
GRPO, each over several seeds with the same budget (steps x prompts x samples x epochs), on the tiny
policy and the synth suite. Writes a PNG of held-out pass@1 against step, a Markdown table and a JSON
summary into ``--out``.

    nice python -m codeprm.rl.experiment --prm PRM_DIR --out docs/experiments/rl_dense_vs_outcome

Runs go in parallel subprocesses (``--parallel``), one torch thread and one sandbox worker each; a run
directory that already holds a finished ``summary.json`` is reused, a killed one resumes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

METHODS = {
    # outcome-only PPO: critic from the policy's weights, reward = tests only
    "outcome": {"algo": {"estimator": "gae"}, "critic_init": "policy"},
    # the method: PRM line rewards on line-end tokens + outcome, critic initialised from the PRM
    "dense": {"algo": {"estimator": "gae"}, "critic_init": "prm", "reward": {"prm": "{prm}"}},
    # critic-free group baseline, outcome reward, KL in the loss (as in the GRPO paper)
    "grpo": {"algo": {"estimator": "grpo", "kl_in": "loss", "whiten_advantages": False}},
}


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out.get(k, {}), v) if isinstance(v, dict) else v
    return out


def run_config(method: str, seed: int, args, run_dir: Path) -> dict:
    common = {
        "policy": args.policy, "out": str(run_dir), "seed": seed, "steps": args.steps,
        "train_benchmark": args.train_benchmark, "eval_benchmark": args.eval_benchmark,
        "prompts_per_step": args.prompts_per_step, "samples_per_prompt": args.samples_per_prompt,
        "max_new_tokens": args.max_new_tokens, "temperature": args.temperature,
        "eval_every_steps": args.eval_every, "eval_limit": args.eval_limit, "save_every_steps": args.eval_every,
        "threads": 1, "sandbox_workers": 1, "progress": False,
        "algo": {"epochs": args.epochs, "minibatch_size": args.prompts_per_step * args.samples_per_prompt,
                 "lr": args.lr, "critic_lr": args.critic_lr, "kl_coef": args.kl_coef},
        "reward": {"prm_weight_pass": args.prm_weight_pass, "prm_weight_fail": args.prm_weight_fail},
    }
    cfg = _merge(common, METHODS[method])
    if "prm" in cfg.get("reward", {}):
        cfg["reward"]["prm"] = args.prm
    return cfg


def launch(cfg: dict, run_dir: Path) -> subprocess.Popen:
    import yaml

    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "run.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    log = open(run_dir / "log.txt", "a")
    return subprocess.Popen([sys.executable, "-c", "from codeprm.cli import main; main()", "rl", "--config", str(run_dir / "run.yaml")],
                            stdout=log, stderr=subprocess.STDOUT, env=env)


def eval_curve(run_dir: Path) -> list[tuple[int, float]]:
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [(r["step"], r["eval_pass1"]) for r in rows if "eval_pass1" in r]


def train_means(run_dir: Path, key: str) -> list[float]:
    path = run_dir / "metrics.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    return [r[key] for r in rows if key in r]


def summarise(out: Path, runs_dir: Path, methods: list[str], seeds: list[int], steps: int, command: str) -> dict:
    curves: dict[str, dict[int, list[float]]] = {}
    finals: dict[str, list[float]] = {}
    extras: dict[str, dict] = {}
    for m in methods:
        curves[m] = {}
        finals[m] = []
        for s in seeds:
            # a run may have gone past `steps` (the budget was cut after it started): its curve up to
            # `steps` is exactly a `steps`-long run's, because every step is seeded from (seed, step)
            curve = [(st, p) for st, p in eval_curve(runs_dir / f"{m}-seed{s}") if st <= steps]
            for step, p in curve:
                curves[m].setdefault(step, []).append(p)
            if curve and curve[-1][0] == steps:
                finals[m].append(curve[-1][1])
        runs = [runs_dir / f"{m}-seed{s}" for s in seeds]
        extras[m] = {k: float(np.mean([np.mean(train_means(r, k)) for r in runs if train_means(r, k)] or [float("nan")]))
                     for k in ("pass_rate", "kl", "line_reward_mean", "response_length", "step_time_s")}
    mean_curve = {m: sorted((st, float(np.mean(v)), float(np.std(v)), len(v)) for st, v in curves[m].items()) for m in methods}
    final = {m: float(np.mean(finals[m])) if finals[m] else None for m in methods}
    steps_to = None
    if final.get("outcome") is not None and "dense" in mean_curve:
        # counted from the first evaluation after training started (step 0 is the shared starting policy)
        steps_to = next((st for st, mean, _, n in mean_curve["dense"] if st > 0 and n == len(seeds) and mean >= final["outcome"]), None)
    start = mean_curve[methods[0]][0][1] if mean_curve.get(methods[0]) and mean_curve[methods[0]][0][0] == 0 else None
    summary = {
        "outcome_final_pass1": final.get("outcome"),
        "dense_final_pass1": final.get("dense"),
        "grpo_final_pass1": final.get("grpo"),
        "dense_steps_to_outcome_final": steps_to,
        "outcome_steps": steps,
        "start_pass1": start,
        "dense_minus_outcome_final_points": (100 * (final["dense"] - final["outcome"])
                                             if final.get("dense") is not None and final.get("outcome") is not None else None),
        "seeds": seeds,
        "finished_runs": {m: len(finals[m]) for m in methods},
        "final_pass1_per_seed": finals,
        "curves": {m: [{"step": st, "mean": mean, "std": sd, "runs": n} for st, mean, sd, n in mean_curve[m]] for m in methods},
        "train_means": extras,
        "command": command,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    _plot(out / "pass1_vs_step.png", mean_curve)
    _table(out / "table.md", summary, methods, seeds)
    return summary


def _plot(path: Path, mean_curve: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for m, pts in mean_curve.items():
        if not pts:
            continue
        xs = [p[0] for p in pts]
        ys = np.array([p[1] for p in pts])
        sd = np.array([p[2] for p in pts])
        ax.plot(xs, ys, marker="o", label=m)
        ax.fill_between(xs, ys - sd, ys + sd, alpha=0.15)
    ax.set_xlabel("RL step")
    ax.set_ylabel("held-out greedy pass@1 (mean ± sd over seeds)")
    ax.set_title("tiny policy on synth:heldout")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _fmt(x) -> str:
    return "—" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.3f}"


def _table(path: Path, summary: dict, methods: list[str], seeds: list[int]) -> None:
    lines = ["| method | final held-out pass@1 (mean) | per seed | step-0 pass@1 | mean train pass rate | mean KL | mean line reward | mean length | s/step |",
             "|---|---|---|---|---|---|---|---|---|"]
    for m in methods:
        curve = summary["curves"][m]
        start = curve[0]["mean"] if curve and curve[0]["step"] == 0 else None
        ex = summary["train_means"][m]
        per_seed = ", ".join(f"{v:.3f}" for v in summary["final_pass1_per_seed"][m]) or "—"
        final = summary[f"{m}_final_pass1"] if f"{m}_final_pass1" in summary else None
        lines.append(f"| {m} | {_fmt(final)} | {per_seed} | {_fmt(start)} | {_fmt(ex['pass_rate'])} | {_fmt(ex['kl'])} | "
                     f"{_fmt(ex['line_reward_mean'])} | {_fmt(ex['response_length'])} | {_fmt(ex['step_time_s'])} |")
    lines.append("")
    lines.append(f"starting policy (step 0): {_fmt(summary['start_pass1'])}; dense reaches outcome-only's final pass@1 at step: "
                 f"{summary['dense_steps_to_outcome_final']} (of {summary['outcome_steps']}); dense - outcome at the end: "
                 f"{_fmt(summary['dense_minus_outcome_final_points'])} points; seeds {seeds}")
    path.write_text("\n".join(lines) + "\n")


def build_prm(args) -> str:
    """Label the policy's own samples on fresh train-split problems and train a PRM on the policy's
    backbone (so tokenizers match): ``codeprm label`` then ``codeprm prm train``, both resumable."""
    work = args.runs / "prm_build"
    cli = [sys.executable, "-c", "from codeprm.cli import main; main()"]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.parallel)}
    steps = [
        ["label", "--policy", args.policy, "--benchmark", args.prm_benchmark, "--method", "binary", "-k", str(args.prm_k),
         "--samples", str(args.prm_samples), "--out", str(work / "labels"), "--max-new-tokens", str(args.max_new_tokens)],
        ["prm", "train", "--data", str(work / "labels"), "--base", args.policy, "--out", str(work / "prm"),
         "--epochs", str(args.prm_epochs)],
    ]
    for cmd in steps:
        print("+ codeprm " + " ".join(cmd), flush=True)
        with open(work.parent / "prm_build.log", "a") as log:
            subprocess.run(cli + cmd, check=True, env=env, stdout=log, stderr=subprocess.STDOUT)
    return str(work / "prm")


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="where the plot, table and summary.json go")
    ap.add_argument("--runs", type=Path, default=Path("runs/rl_experiment"), help="run directories (checkpoints, metrics, logs; not for git)")
    ap.add_argument("--prm", default=None, help="PRM checkpoint directory trained on the policy's tokenizer; omitted: build one")
    ap.add_argument("--prm-benchmark", default="synth:train?seed=12&size=48", help="problems labelled to build the PRM")
    ap.add_argument("--prm-samples", type=int, default=6, help="responses labelled per problem")
    ap.add_argument("--prm-k", type=int, default=3, help="rollouts per probed prefix (binary first-error search)")
    ap.add_argument("--prm-epochs", type=int, default=4)
    ap.add_argument("--train-benchmark", default="synth:train?seed=11&size=500",
                    help="RL problems: train-split compositions with fresh constants (the tiny policy was SFT'd on synth:train)")
    ap.add_argument("--eval-benchmark", default="synth:heldout")
    ap.add_argument("--policy", default="tiny")
    ap.add_argument("--methods", default="outcome,dense,grpo")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--prompts-per-step", type=int, default=4)
    ap.add_argument("--samples-per-prompt", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--critic-lr", type=float, default=2e-4)
    ap.add_argument("--kl-coef", type=float, default=0.02)
    ap.add_argument("--prm-weight-pass", type=float, default=0.2)
    ap.add_argument("--prm-weight-fail", type=float, default=0.5)
    ap.add_argument("--eval-every", type=int, default=5)
    ap.add_argument("--eval-limit", type=int, default=64)
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--summarise-only", action="store_true", help="only rebuild the plot/table/JSON from existing runs")
    args = ap.parse_args(argv)
    methods = [m for m in args.methods.split(",") if m]
    seeds = [int(s) for s in args.seeds.split(",") if s]
    command = "nice python -m codeprm.rl.experiment " + " ".join(argv if argv is not None else sys.argv[1:])
    args.out.mkdir(parents=True, exist_ok=True)
    args.runs.mkdir(parents=True, exist_ok=True)
    if not args.summarise_only and "dense" in methods and args.prm is None:
        args.prm = build_prm(args)
    if not args.summarise_only:
        # seed-major order: if time runs out, every method has the same seeds finished
        queue = [(m, s) for s in seeds for m in methods]
        running: list[tuple[str, subprocess.Popen, float]] = []
        while queue or running:
            while queue and len(running) < args.parallel:
                m, s = queue.pop(0)
                run_dir = args.runs / f"{m}-seed{s}"
                if any(st == args.steps for st, _ in eval_curve(run_dir)):  # already evaluated at the budget
                    continue
                running.append((f"{m}-seed{s}", launch(run_config(m, s, args, run_dir), run_dir), time.time()))
            time.sleep(2)
            for item in list(running):
                name, proc, t0 = item
                if proc.poll() is not None:
                    running.remove(item)
                    print(f"{name}: exit {proc.returncode} after {time.time() - t0:.0f}s", flush=True)
                    summarise(args.out, args.runs, methods, seeds, args.steps, command)
    summary = summarise(args.out, args.runs, methods, seeds, args.steps, command)
    print(json.dumps({k: summary[k] for k in ("outcome_final_pass1", "dense_final_pass1", "grpo_final_pass1",
                                              "dense_steps_to_outcome_final", "outcome_steps", "finished_runs")}, indent=2))
    return summary


if __name__ == "__main__":
    main()
