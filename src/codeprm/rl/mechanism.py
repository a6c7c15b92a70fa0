"""The mechanism experiment (docs/experiments/rl_mechanism): does RL improve a policy on *fresh* problems,
and do dense line rewards beat the outcome reward at the same sample budget?

Every run draws new problems at every step (``train_stream``: never the same problem twice, never a
held-out one) and is evaluated on two fixed held-out draws: the same distribution (train compositions,
another seed) and unseen compositions. Arms, each over the same seeds:

- ``outcome``       PPO (GAE, critic from the policy), tests only
- ``oracle``        the same PPO + exact-label line rewards (labels/exact.py): the positive control
- ``dense``         PSGPO: PPO + the learned PRM's line rewards, critic initialised from the PRM
- ``grpo``          GRPO, tests only
- ``grpo_oracle``   critic-free process advantages (RLOO outcome + each line's own exact-label reward)
- ``grpo_process``  the same with the learned PRM's line rewards

Line rewards are potential-based (``line_transform=min_delta``): the penalty lands on the line where the
score first drops and sums to ``weight * (min score - 1)`` however long the program is, the same for
passing and failing samples (the outcome does not set the line weight).

    nice python -m codeprm.rl.mechanism --policy hf:runs/mech/habits --prm runs/mech/prm \\
        --out docs/experiments/rl_mechanism --runs runs/mech/exp

Rerunning the same command continues (finished runs are reused, killed ones resume from their
checkpoint); ``--summarise-only`` rebuilds the summary, table and plot.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from codeprm.rl.experiment import _merge, choose_arms, run_experiment

LINE = {"line_transform": "min_delta"}
ARMS = {
    "outcome": {"algo": {"estimator": "gae"}, "critic_init": "policy"},
    "oracle": {"algo": {"estimator": "gae"}, "critic_init": "policy", "reward": {"exact_lines": True, **LINE}},
    "dense": {"algo": {"estimator": "gae"}, "critic_init": "prm", "reward": {"prm": "{prm}", "log_prm_auroc": True, **LINE}},
    "grpo": {"algo": {"estimator": "grpo", "kl_in": "loss", "whiten_advantages": False}},
    "grpo_oracle": {"algo": {"estimator": "process", "process_credit": "line", "kl_in": "loss", "whiten_advantages": False},
                    "reward": {"exact_lines": True, **LINE}},
    "grpo_process": {"algo": {"estimator": "process", "process_credit": "line", "kl_in": "loss", "whiten_advantages": False},
                     "reward": {"prm": "{prm}", "log_prm_auroc": True, **LINE}},
}
NEEDS_PRM = {"dense", "grpo_process"}


def common_config(args, run_dir: Path, seed: int) -> dict:
    return {
        "policy": args.policy, "out": str(run_dir), "seed": seed, "steps": args.steps,
        "train_stream": args.stream, "eval_benchmark": args.heldout, "eval_unseen_benchmark": args.unseen,
        "eval_limit": args.eval_limit, "eval_samples": args.eval_samples, "eval_every_steps": args.eval_every, "eval_start": False,
        "prompts_per_step": args.prompts_per_step, "samples_per_prompt": args.samples_per_prompt,
        "max_new_tokens": args.max_new_tokens, "temperature": args.temperature, "save_every_steps": args.save_every,
        "threads": 1, "sandbox_workers": 1, "progress": False, "critic_warmup_epochs": args.critic_warmup_epochs,
        "algo": {"epochs": args.epochs, "minibatch_size": args.minibatch_size, "lr": args.lr, "critic_lr": args.critic_lr,
                 "kl_coef": args.kl_coef, "target_kl": args.target_kl, "lam": args.lam},
        "reward": {"prm_weight_pass": args.line_weight, "prm_weight_fail": args.line_weight},
    }


def run_config(arm: str, seed: int, args, run_dir: Path) -> dict:
    cfg = _merge(common_config(args, run_dir, seed), ARMS[arm])
    if "prm" in cfg.get("reward", {}):
        cfg["reward"]["prm"] = args.prm
    return cfg


def start_config(args, run_dir: Path) -> dict:
    """Zero steps: the starting policy's evaluation, measured once for every run."""
    return common_config(args, run_dir, 0) | {"steps": 0, "eval_start": True}


def parse_args(argv: list[str] | None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", "-o", type=Path, required=True, help="where summary.json, table.md and the plot go")
    ap.add_argument("--runs", type=Path, default=Path("runs/mech/exp"), help="run directories (not for git)")
    ap.add_argument("--policy", "-p", default="tiny")
    ap.add_argument("--prm", default=None, help="PRM checkpoint on the policy's tokenizer; without it the PRM arms are skipped")
    ap.add_argument("--arms", default="outcome,oracle,dense,grpo,grpo_oracle,grpo_process")
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--stream", default="synth:train?difficulty=3-6", help="fresh training problems (a ProblemStream spec)")
    ap.add_argument("--heldout", default="synth:train?size=64&difficulty=3-6&seed=7", help="same-distribution held-out draw")
    ap.add_argument("--unseen", default="synth:heldout?size=64&difficulty=3-6&seed=8", help="unseen compositions")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--prompts-per-step", type=int, default=16)
    ap.add_argument("--samples-per-prompt", type=int, default=4)
    ap.add_argument("--minibatch-size", type=int, default=64)
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--temperature", "-t", type=float, default=1.0)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--critic-lr", type=float, default=5e-4)
    ap.add_argument("--kl-coef", type=float, default=0.0)
    ap.add_argument("--target-kl", type=float, default=None)
    ap.add_argument("--lam", type=float, default=0.95)
    ap.add_argument("--line-weight", type=float, default=0.5)
    ap.add_argument("--critic-warmup-epochs", type=int, default=2)
    ap.add_argument("--eval-every", type=int, default=10)
    ap.add_argument("--save-every", type=int, default=5)
    ap.add_argument("--eval-limit", type=int, default=64)
    ap.add_argument("--eval-samples", type=int, default=8)
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--summarise-only", action="store_true")
    ap.add_argument("--labels", type=Path, default=None, help="summary JSON of the label-vs-exact comparison (label_agreement)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    from codeprm.rl.mechanism_report import summarise

    args = parse_args(argv)
    arms, seeds = choose_arms(args, ARMS, NEEDS_PRM)
    command = "nice python -m codeprm.rl.mechanism " + " ".join(argv if argv is not None else sys.argv[1:])
    meta = {"omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "run_omp_num_threads": "1", "stream": args.stream,
            "heldout": args.heldout, "unseen": args.unseen, "labels": str(args.labels) if args.labels else None}
    summarise_now = lambda: summarise(args.out, args.runs, arms, seeds, args.steps, command, meta)  # noqa: E731
    if not args.summarise_only:
        run_experiment(args, arms, seeds, start_config, run_config, summarise_now)
    summary = summarise_now()
    keys = ("start_pass1", "outcome_final_pass1", "outcome_minus_start_ci95", "oracle_final_pass1", "oracle_minus_outcome_ci95",
            "dense_final_pass1", "dense_minus_outcome_ci95", "grpo_final_pass1", "finished_runs")
    print(json.dumps({k: summary.get(k) for k in keys}, indent=2))
    return summary


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
