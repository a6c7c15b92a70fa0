"""CLI: ``codeprm sft`` (trains the tiny policy, or any small model from scratch on a benchmark)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    @app.command("sft")
    def sft_command(
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="model directory (default: the tiny policy's, $CODEPRM_CACHE/tiny)"),
        data: Optional[str] = typer.Option(None, "--data", help="benchmark whose prompt -> reference pairs are trained on (default synth:train)"),
        steps: Optional[int] = typer.Option(None, "--steps", help="optimizer steps (default: SFTConfig.steps)"),
        batch_size: Optional[int] = typer.Option(None, "--batch-size"),
        lr: Optional[float] = typer.Option(None, "--lr", help="peak learning rate"),
        hidden_size: Optional[int] = typer.Option(None, "--hidden-size"),
        num_layers: Optional[int] = typer.Option(None, "--num-layers"),
        threads: Optional[int] = typer.Option(None, "--threads", help="torch CPU threads"),
        seed: Optional[int] = typer.Option(None, "--seed"),
        config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML file of SFTConfig fields; flags override it"),
        sets: list[str] = typer.Option([], "--set", help="KEY=VALUE override of any SFTConfig field (repeatable)"),
        variant: str = typer.Option("tiny", "--variant", help="named tiny policy: tiny | tiny-habits (line-local error habits; "
                                    "the RL mechanism experiment's starting policy); its fields go under the config and flags"),
    ) -> None:
        """Train a small causal LM from scratch on prompt -> reference pairs (loss on the completion only)."""
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        from codeprm.config import build_from_cli
        from codeprm.policy.sft import SFTConfig, train_sft
        from codeprm.errors import CodeprmError
        from codeprm.policy.tiny import VARIANTS, tiny_dir

        if variant not in VARIANTS:
            raise CodeprmError(f"unknown --variant '{variant}'; known: {', '.join(VARIANTS)}")
        flags = dict(data=data, steps=steps, batch_size=batch_size, lr=lr, hidden_size=hidden_size, num_layers=num_layers, threads=threads, seed=seed)
        cfg = build_from_cli(SFTConfig, config, flags, sets)
        cfg = cfg.model_copy(update={k: v for k, v in VARIANTS[variant].items() if k not in cfg.model_fields_set})
        target = out or tiny_dir(variant)
        console = Console(stderr=True)
        with Progress(TextColumn("sft"), BarColumn(), TextColumn("{task.completed}/{task.total} loss {task.fields[loss]:.3f}"),
                      TimeElapsedColumn(), TimeRemainingColumn(), console=console) as progress:
            task = progress.add_task("sft", total=cfg.steps, loss=float("nan"))
            metrics = train_sft(cfg, target, on_step=lambda step, loss: progress.update(task, completed=step, loss=loss))
        console.print(f"saved {target}: {metrics['parameters']:,} parameters, {metrics['examples']} examples, "
                      f"{metrics['epochs']} epochs, final loss {metrics['final_loss']}, {metrics['train_s']}s")
