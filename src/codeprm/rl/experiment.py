"""The dense-vs-outcome experiment: outcome-only PPO, dense-PRM PPO with the PRM critic, GRPO, and GRPO
with process advantages, each over several seeds with the same sample budget (steps x prompts x samples),
on problems the starting policy solves sometimes but rarely (``codeprm.rl.regime``).

    nice python -m codeprm.rl.experiment --policy hf:POLICY --regime REGIME_DIR --prm PRM_DIR \\
        --out docs/experiments/rl_dense_vs_outcome --runs runs/rl_experiment

Held-out score: the mean pass rate over ``--eval-samples`` samples per problem (fixed eval seed, so every
run of the starting policy measures the same step-0 number: it is measured once, in ``RUNS/start``), on
the same-distribution held-out set and on unseen compositions. Intervals: hierarchical bootstrap (seeds,
then problems). Runs go in parallel subprocesses, one torch thread each; a finished run is reused and a
killed one resumes from its checkpoint, so rerunning the same command continues the experiment.
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

from codeprm.rl.report import summarise

ARMS = {
    # outcome-only PPO: critic from the policy's weights, reward = tests only
    "outcome": {"algo": {"estimator": "gae"}, "critic_init": "policy"},
    # the method: PRM line rewards on line-end tokens + outcome, critic initialised from the PRM and fitted to the returns
    "dense": {"algo": {"estimator": "gae"}, "critic_init": "prm", "reward": {"prm": "{prm}"}},
    # critic-free group baseline, outcome reward, k3 KL in the loss (as in the GRPO paper)
    "grpo": {"algo": {"estimator": "grpo", "kl_in": "loss", "whiten_advantages": False}},
    # GRPO-style group baseline with process advantages: leave-one-out PRM line rewards + RLOO outcome (PRIME)
    "grpo_process": {"algo": {"estimator": "process", "kl_in": "loss"}, "reward": {"prm": "{prm}"}},
}
NEEDS_PRM = {"dense", "grpo_process"}


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out.get(k, {}), v) if isinstance(v, dict) else v
    return out


def common_config(args, run_dir: Path, seed: int) -> dict:
    return {
        "policy": args.policy, "out": str(run_dir), "seed": seed, "steps": args.steps,
        "train_benchmark": f"jsonl:{args.regime / 'rl_train.jsonl'}",
        "eval_benchmark": f"jsonl:{args.regime / 'heldout_same.jsonl'}",
        "eval_unseen_benchmark": f"jsonl:{args.regime / 'heldout_unseen.jsonl'}",
        "eval_limit": args.eval_limit, "eval_samples": args.eval_samples, "eval_every_steps": args.eval_every, "eval_start": False,
        "prompts_per_step": args.prompts_per_step, "samples_per_prompt": args.samples_per_prompt,
        "max_new_tokens": args.max_new_tokens, "temperature": args.temperature, "save_every_steps": args.eval_every,
        "threads": 1, "sandbox_workers": 1, "progress": False,
        "algo": {"epochs": args.epochs, "minibatch_size": args.minibatch_size, "lr": args.lr, "critic_lr": args.critic_lr,
                 "kl_coef": args.kl_coef, "target_kl": args.target_kl},
        "reward": {"prm_weight_pass": args.prm_weight_pass, "prm_weight_fail": args.prm_weight_fail},
    }


def run_config(arm: str, seed: int, args, run_dir: Path) -> dict:
    cfg = _merge(common_config(args, run_dir, seed), ARMS[arm])
    if "prm" in cfg.get("reward", {}):
        cfg["reward"]["prm"] = args.prm
    if arm == "dense":
        cfg["critic_warmup_epochs"] = args.critic_warmup_epochs
    return cfg


def start_config(args, run_dir: Path) -> dict:
    """Zero steps: only the starting policy's evaluation, shared by every run."""
    return common_config(args, run_dir, 0) | {"steps": 0, "eval_start": True}


def launch(cfg: dict, run_dir: Path) -> subprocess.Popen:
    import yaml

    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "run.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    log = open(run_dir / "log.txt", "a")
    return subprocess.Popen([sys.executable, "-c", "from codeprm.cli import main; main()", "rl", "--config", str(run_dir / "run.yaml")],
                            stdout=log, stderr=subprocess.STDOUT, env=env)


def finished(run_dir: Path, steps: int) -> bool:
    path = run_dir / "evals.jsonl"
    return path.exists() and any(json.loads(line).get("step") == steps for line in path.read_text().splitlines() if line.strip())


def run_all(jobs: list[tuple[str, dict, Path, int]], parallel: int, on_done) -> None:
    """Run ``(name, config, run_dir, steps)`` jobs, ``parallel`` at a time, skipping finished ones."""
    queue = [j for j in jobs if not finished(j[2], j[3])]
    running: list[tuple[str, subprocess.Popen, float]] = []
    while queue or running:
        while queue and len(running) < parallel:
            name, cfg, run_dir, _ = queue.pop(0)
            running.append((name, launch(cfg, run_dir), time.time()))
        time.sleep(2)
        for item in list(running):
            name, proc, t0 = item
            if proc.poll() is not None:
                running.remove(item)
                print(f"{name}: exit {proc.returncode} after {time.time() - t0:.0f}s", flush=True)
                on_done()


def choose_arms(args, arms_table: dict, needs_prm: set) -> tuple[list[str], list[int]]:
    """The arms and seeds asked for; an unknown arm exits naming it, PRM arms are skipped without --prm."""
    arms = [a for a in args.arms.split(",") if a]
    unknown = [a for a in arms if a not in arms_table]
    if unknown:
        raise SystemExit(f"unknown arm(s) {unknown}; known: {', '.join(arms_table)}")
    if args.prm is None and needs_prm & set(arms):
        print(f"no --prm: skipping {sorted(needs_prm & set(arms))}", flush=True)
        arms = [a for a in arms if a not in needs_prm]
    args.out.mkdir(parents=True, exist_ok=True)
    args.runs.mkdir(parents=True, exist_ok=True)
    return arms, [int(s) for s in args.seeds.split(",") if s]


def run_experiment(args, arms: list[str], seeds: list[int], start_config, run_config, on_done) -> None:
    """The shared start evaluation, then every (arm, seed) run, ``args.parallel`` at a time, seed-major
    (if time runs out, every arm has the same seeds finished); finished runs are reused."""
    run_all([("start", start_config(args, args.runs / "start"), args.runs / "start", 0)], 1, lambda: None)
    jobs = [(f"{a}-seed{s}", run_config(a, s, args, args.runs / f"{a}-seed{s}"), args.runs / f"{a}-seed{s}", args.steps)
            for s in seeds for a in arms]
    run_all(jobs, args.parallel, on_done)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", "-o", type=Path, required=True, help="where the plot, table and summary.json go")
    ap.add_argument("--runs", type=Path, default=Path("runs/rl_experiment"), help="run directories (checkpoints, metrics, logs; not for git)")
    ap.add_argument("--regime", type=Path, required=True, help="directory from codeprm.rl.regime (rl_train / heldout_same / heldout_unseen)")
    ap.add_argument("--prm", default=None, help="PRM checkpoint directory on the policy's tokenizer; without it the PRM arms are skipped")
    ap.add_argument("--policy", "-p", default="tiny")
    ap.add_argument("--arms", default="outcome,dense,grpo,grpo_process")
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--prompts-per-step", type=int, default=6)
    ap.add_argument("--samples-per-prompt", type=int, default=4)
    ap.add_argument("--minibatch-size", type=int, default=12)
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--temperature", "-t", type=float, default=1.0)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--critic-lr", type=float, default=2e-4)
    ap.add_argument("--kl-coef", type=float, default=0.05)
    ap.add_argument("--target-kl", type=float, default=0.05)
    ap.add_argument("--critic-warmup-epochs", type=int, default=2)
    ap.add_argument("--prm-weight-pass", type=float, default=0.2)
    ap.add_argument("--prm-weight-fail", type=float, default=0.5)
    ap.add_argument("--eval-every", type=int, default=5)
    ap.add_argument("--eval-limit", type=int, default=32)
    ap.add_argument("--eval-samples", type=int, default=8)
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--summarise-only", action="store_true", help="only rebuild the plot/table/JSON from existing runs")
    args = ap.parse_args(argv)
    arms, seeds = choose_arms(args, ARMS, NEEDS_PRM)
    command = "nice python -m codeprm.rl.experiment " + " ".join(argv if argv is not None else sys.argv[1:])
    summarise_now = lambda: summarise(args.out, args.runs, arms, seeds, args.steps, command)  # noqa: E731
    if not args.summarise_only:
        run_experiment(args, arms, seeds, start_config, run_config, summarise_now)
    summary = summarise_now()
    keys = ("start_pass1", "outcome_final_pass1", "dense_final_pass1", "grpo_final_pass1", "grpo_process_final_pass1",
            "dense_minus_outcome_ci95", "dense_minus_start_ci95", "dense_steps_to_outcome_final", "outcome_steps", "finished_runs")
    print(json.dumps({k: summary.get(k) for k in keys}, indent=2))
    return summary


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
