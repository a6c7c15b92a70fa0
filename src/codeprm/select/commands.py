"""CLI: ``codeprm select``, ``codeprm tests generate``, ``codeprm bench select``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

_CONFIG = typer.Option(None, "--config", "-c", help="YAML file of the command's config fields; flags override it")
_SETS = typer.Option([], "--set", help="KEY=VALUE override of any config field (repeatable)")


def _progress_bar(label: str):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn(f"[bold]{label}[/bold]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=Console(stderr=True))
    task = bar.add_task(label, total=None)
    return bar, lambda done, total: bar.update(task, completed=done, total=total)


def _table(title: str, rows: dict[str, dict]) -> Table:
    table = Table(title=title)
    for col in ("method", "pass@1", "95% CI", "gap closed"):
        table.add_column(col, justify="left" if col == "method" else "right")
    for name, row in rows.items():
        gap = row.get("gap_closed")
        table.add_row(name, f"{row['pass1']:.3f}", f"[{row['ci95'][0]:.3f}, {row['ci95'][1]:.3f}]", "" if gap is None else f"{gap:.0%}")
    return table


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    @app.command("select")
    def select_command(
        config_path: Optional[Path] = _CONFIG,
        samples: Optional[str] = typer.Option(None, "--samples", "-n", help="samples FILE (CodeT {prompt, samples}, {task_id, completion}, or codeprm samples.jsonl)"),
        tests: Optional[str] = typer.Option(None, "--tests", help="generated tests FILE (CodeT layout: generations after 'assert ')"),
        method: Optional[str] = typer.Option(None, "--method", "-m", help="random | oracle | maxpass | codet | b4 | mbr | mbr_soft | codet+mbr | b4+mbr | prm | orm | b4+prm | codet+prm | public | public+codet | public+b4 | public+mbr (public*: the docstring's examples)"),
        benchmark: Optional[str] = typer.Option(None, "--benchmark", "-b", help="the problems the samples answer (default humaneval)"),
        limit: Optional[int] = typer.Option(None, "--limit", "-l", help="only the first LIMIT problems"),
        scores: Optional[str] = typer.Option(None, "--scores", help="JSONL of reward-model scores {task_id, sample_index, prm?, orm?}"),
        cache: Optional[str] = typer.Option(None, "--cache", help="SQLite file caching the execution matrix"),
        seed: Optional[int] = typer.Option(None, "--seed", help="bootstrap seed"),
        sets: list[str] = _SETS,
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="directory for selected.jsonl and summary.json"),
    ) -> None:
        """Choose one sample per problem with a selection method; print its pass@1 beside random and oracle."""
        from codeprm.config import build_from_cli
        from codeprm.select.run import SelectConfig, select

        flags = dict(samples=samples, tests=tests, method=method, benchmark=benchmark, limit=limit, scores=scores,
                     cache=cache, seed=seed)
        config = build_from_cli(SelectConfig, config_path, flags, sets)
        bar, progress = _progress_bar("select: running programs")
        with bar:
            summary = select(config, out=out, progress=progress)
        Console().print(_table(f"{config.method} on {summary['problems']} problems ({summary['samples']} samples)", summary["table"]))

    tests_app = typer.Typer(no_args_is_help=True, help="Plausible tests written by a policy (CodeT style).")
    app.add_typer(tests_app, name="tests")

    @tests_app.command("generate")
    def tests_generate_command(
        config_path: Optional[Path] = _CONFIG,
        policy: Optional[str] = typer.Option(None, "--policy", "-p", help="embedded (default) | tiny | hf:PATH | openai:URL"),
        benchmark: Optional[str] = typer.Option(None, "--benchmark", "-b", help="humaneval (default) | humaneval:PATH | ..."),
        samples: Optional[int] = typer.Option(None, "--samples", "-n", help="generations per problem (default 10)"),
        limit: Optional[int] = typer.Option(None, "--limit", "-l", help="only the first LIMIT problems"),
        temperature: Optional[float] = typer.Option(None, "--temperature", "-t", help="default 0.8"),
        top_p: Optional[float] = typer.Option(None, "--top-p", help="default 0.95"),
        max_new_tokens: Optional[int] = typer.Option(None, "--max-new-tokens", help="default 300"),
        seed: Optional[int] = typer.Option(None, "--seed"),
        sets: list[str] = _SETS,
        out: Path = typer.Option(..., "--out", "-o", help="JSONL file of {task_id, prompt, samples} rows"),
    ) -> None:
        """Ask a policy for assert lines after a stub of each function, as CodeT does."""
        from codeprm.config import build_from_cli
        from codeprm.select.run import TestsConfig, generate_tests

        flags = dict(policy=policy, benchmark=benchmark, samples=samples, limit=limit, temperature=temperature,
                     top_p=top_p, max_new_tokens=max_new_tokens, seed=seed)
        config = build_from_cli(TestsConfig, config_path, flags, sets)
        stats = generate_tests(config, out)
        Console().print(f"wrote {out}: {json.dumps(stats)}")

    @bench_app.command("select")
    def bench_select_command(
        config_path: Optional[Path] = _CONFIG,
        limit: Optional[int] = typer.Option(None, "--limit", "-l", help="only the first LIMIT problems"),
        cache: Optional[str] = typer.Option(None, "--cache", help="SQLite file caching the execution matrix"),
        scores: Optional[str] = typer.Option(None, "--scores", help="JSONL of reward-model scores {task_id, sample_index, prm?, orm?}"),
        seed: Optional[int] = typer.Option(None, "--seed"),
        sets: list[str] = _SETS,
        json_path: Optional[Path] = typer.Option(None, "--json", help="write the results here (docs/benchmarks/select_codegen16b.json)"),
    ) -> None:
        """CodeT, B4, MBR-exec, ... on CodeGen-16B's HumanEval samples and generated tests, beside random and oracle."""
        import shlex
        import sys

        from codeprm.config import build_from_cli
        from codeprm.select.bench import SelectBenchConfig, run_bench

        config = build_from_cli(SelectBenchConfig, config_path, dict(limit=limit, cache=cache, scores=scores, seed=seed), sets)
        bar, progress = _progress_bar("bench select: running programs")
        with bar:
            result = run_bench(config, progress)
        result["command"] = "codeprm " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        for n, rows in result["tables"].items():
            Console().print(_table(f"N = {n} samples per problem" + ("" if n == "all" else f" ({config.subsets} random subsets)"), rows))
        Console().print(f"goals: {result['goals']}  cost: {result['cost']}")
        if json_path:
            json_path.parent.mkdir(parents=True, exist_ok=True)
            json_path.write_text(json.dumps(result, indent=2) + "\n")
