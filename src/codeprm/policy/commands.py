"""CLI: ``codeprm bench generate``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    @bench_app.command("generate")
    def bench_generate_command(
        prompts: int = typer.Option(8, "--prompts", min=1, help="HumanEval prompts to decode"),
        max_new_tokens: int = typer.Option(64, "--max-new-tokens", min=1, help="new tokens per prompt"),
        policy: str = typer.Option("embedded", "--policy", "-p", help="embedded | tiny | hf:PATH"),
        benchmark: str = typer.Option("humaneval", "--benchmark", "-b", help="where the prompts come from"),
        json_path: Optional[Path] = typer.Option(None, "--json", help="write the numbers here as JSON"),
    ) -> None:
        """Tokens/s of greedy decoding one prompt at a time vs all prompts in one batch (same run)."""
        import time

        from rich.progress import Progress

        from codeprm.errors import CodeprmError
        from codeprm.policy.bench import bench_generate
        from codeprm.policy.registry import load_policy
        from codeprm.problems.registry import load_benchmark

        console = Console(width=None if sys.stdout.isatty() else 110)  # no squeezed columns in logs
        start = time.perf_counter()
        model = load_policy(policy)
        load_s = time.perf_counter() - start
        problems = load_benchmark(benchmark)[:prompts]
        if len(problems) < prompts:
            raise CodeprmError(f"benchmark '{benchmark}' has only {len(problems)} problems, --prompts asked for {prompts}")
        texts = [model.prompt_for(p) for p in problems]
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("one prompt at a time", total=len(texts))
            result = bench_generate(model, texts, max_new_tokens, spec=policy, on_prompt=lambda: progress.advance(task))
        result.load.setdefault("load_s", load_s)

        table = Table(title=f"generation: {policy}, {prompts} prompts x {max_new_tokens} new tokens, greedy")
        table.caption = "speedup: over one-at-a-time; CPU: all threads of this process"
        for column in ("mode", "batch", "tokens", "wall s", "tok/s", "speedup", "CPU s", "tok/CPU s", "CPU speedup"):
            table.add_column(column, justify="left" if column == "mode" else "right", no_wrap=column == "mode")
        one = result.one_at_a_time
        for mode in (one, result.batched):
            table.add_row(
                mode.mode, str(mode.batch_size), str(mode.tokens),
                f"{mode.seconds:.1f}", f"{mode.tokens_per_s:.2f}", f"{mode.tokens_per_s / one.tokens_per_s:.2f}x" if one.tokens_per_s else "-",
                f"{mode.cpu_seconds:.1f}", f"{mode.tokens_per_cpu_s:.2f}", f"{mode.tokens_per_cpu_s / one.tokens_per_cpu_s:.2f}x" if one.tokens_per_cpu_s else "-",
            )
        console.print(table)
        load = result.load
        how = "converted from GGUF" if load.get("converted") else "loaded"
        console.print(f"policy {how} in {load.get('load_s', load_s):.2f} s; identical greedy text in both modes: {result.same_outputs}/{prompts}")
        if json_path:
            json_path.parent.mkdir(parents=True, exist_ok=True)
            json_path.write_text(json.dumps(result.as_json(), indent=2))
