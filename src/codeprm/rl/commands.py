"""CLI: ``codeprm rl --config FILE.yaml [flags] [--set reward.prm_weight_fail=0.5 ...]`` (the README's convention:
YAML, then the flags given, then ``--set``)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    @app.command("rl")
    def rl_command(
        config: Optional[Path] = typer.Option(None, "--config", "-c", help="RLConfig YAML (every field documented in codeprm/rl/config.py)"),
        policy: Optional[str] = typer.Option(None, "--policy", "-p", help="policy spec: tiny | embedded | hf:PATH"),
        prm: Optional[str] = typer.Option(None, "--prm", help="PRM checkpoint directory for dense line rewards"),
        estimator: Optional[str] = typer.Option(None, "--estimator", help="gae | grpo | rloo | process"),
        critic_init: Optional[str] = typer.Option(None, "--critic-init", help="prm | policy | fresh"),
        steps: Optional[int] = typer.Option(None, "--steps", help="policy updates"),
        samples: Optional[int] = typer.Option(None, "--samples", "-n", help="samples per problem in each step (samples_per_prompt)"),
        temperature: Optional[float] = typer.Option(None, "--temperature", "-t"),
        max_new_tokens: Optional[int] = typer.Option(None, "--max-new-tokens"),
        lr: Optional[float] = typer.Option(None, "--lr", help="policy learning rate (algo.lr)"),
        lora_rank: Optional[int] = typer.Option(None, "--lora-rank"),
        threads: Optional[int] = typer.Option(None, "--threads"),
        seed: Optional[int] = typer.Option(None, "--seed"),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="run directory (resumes when it holds a checkpoint)"),
        resume: Optional[bool] = typer.Option(None, "--resume/--no-resume", help="continue from the run directory's checkpoint"),
        progress: Optional[bool] = typer.Option(None, "--progress/--no-progress"),
        sets: list[str] = typer.Option([], "--set", help="override any field, dotted: --set algo.kl_coef=0.05 (repeatable)"),
        print_config: bool = typer.Option(False, "--print-config", help="print the resolved config as YAML and exit"),
    ) -> None:
        """Train a policy with PPO (critic, GAE) or GRPO/RLOO/process advantages on outcome and PRM line rewards."""
        import json

        from rich.console import Console

        from codeprm.config import build_from_cli
        from codeprm.rl.config import RLConfig

        flags = {"policy": policy, "reward.prm": prm, "algo.estimator": estimator, "critic_init": critic_init, "steps": steps,
                 "samples_per_prompt": samples, "temperature": temperature, "max_new_tokens": max_new_tokens, "algo.lr": lr,
                 "lora_rank": lora_rank, "threads": threads, "seed": seed, "out": str(out) if out else None, "resume": resume,
                 "progress": progress}
        cfg = build_from_cli(RLConfig, config, flags, sets)
        if print_config:
            typer.echo(cfg.to_yaml())
            return
        from codeprm.rl.trainer import train

        summary = train(cfg)
        history = ", ".join(f"{s}:{p:.3f}" for s, p in summary["eval_history"])
        Console().print(f"[bold]rl done[/bold]: {summary['steps']} steps, held-out pass@1 by step {history}; run dir {summary['out']}")
        typer.echo(json.dumps({k: summary[k] for k in ("steps", "final_eval_pass1", "out", "policy")}))
