"""CLI: ``codeprm label`` and ``codeprm bench label``; both build ``LabelConfig`` (the bench a subclass
of it) through ``codeprm.config.build_from_cli``: YAML (``--config``), then flags, then ``--set``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table


def _fmt(value, digits: int = 2) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    @app.command("label")
    def label_command(
        config_path: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML file of LabelConfig fields; flags override it"),
        policy: Optional[str] = typer.Option(None, "--policy", "-p", help="embedded (default) | tiny | hf:PATH | openai:URL"),
        benchmark: Optional[str] = typer.Option(None, "--benchmark", "-b", help="synth:train (default) | synth:long | humaneval | jsonl:PATH | ..."),
        method: Optional[str] = typer.Option(None, "--method", "-m", help="binary (default) | linear | mc | mutation"),
        rollouts: Optional[int] = typer.Option(None, "--rollouts", "-K", help="K, rollouts per probed prefix (default 4)"),
        samples: Optional[int] = typer.Option(None, "--samples", "-n", help="responses sampled per problem (default 4)"),
        limit: Optional[int] = typer.Option(None, "--limit", "-l", help="only the first LIMIT problems"),
        temperature: Optional[float] = typer.Option(None, "--temperature", "-t", help="default 0.8"),
        top_p: Optional[float] = typer.Option(None, "--top-p"),
        max_new_tokens: Optional[int] = typer.Option(None, "--max-new-tokens", help="default 256"),
        seed: Optional[int] = typer.Option(None, "--seed"),
        mutants: Optional[int] = typer.Option(None, "--mutants", help="mutation method: failing mutants kept per passing response"),
        evidence: Optional[bool] = typer.Option(None, "--evidence/--no-evidence", help="binary/linear: count a passing sibling response as f = 1 on the prefixes it shares (off: the paper's labels)"),
        resume: Optional[bool] = typer.Option(None, "--resume/--no-resume", help="continue the store in --out (default) or discard it and start over"),
        threads: Optional[int] = typer.Option(None, "--threads", help="torch CPU threads for generation (default 1)"),
        sets: list[str] = typer.Option([], "--set", help="KEY=VALUE override of any LabelConfig field (repeatable)"),
        out: Path = typer.Option(..., "--out", "-o", help="output directory (labels.sqlite + exports); rerun to resume"),
        executor: str = typer.Option("local", "--executor", help="local (a Sandbox here) | ray (a Ray pool of sandboxes; pip install 'codeprm[ray]')"),
        ray_address: Optional[str] = typer.Option(None, "--ray-address", help="with --executor ray: the cluster address (default: a local Ray)"),
    ) -> None:
        """Sample responses from a policy and label every line by searching over policy rollouts."""
        from codeprm.config import build_from_cli
        from codeprm.integrations.ray import make_executor
        from codeprm.labels.job import LabelConfig, run_label_job

        flags = dict(policy=policy, benchmark=benchmark, method=method, rollouts=rollouts, samples=samples, limit=limit,
                     temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, seed=seed, mutants=mutants,
                     evidence=evidence, resume=resume, threads=threads)
        config = build_from_cli(LabelConfig, config_path, flags, sets)
        with make_executor(executor, ray_address=ray_address) as sandbox:
            s = run_label_job(config, out, sandbox=sandbox)
        table = Table(title=f"{config.method} labels: {config.policy} on {config.benchmark} (K={config.rollouts})")
        table.add_column("")
        table.add_column("value", justify="right")
        balance = "mean soft label" if config.method == "mc" else "+1 share of labels"
        for name, value in [("responses", s.responses), ("responses labeled", s.labeled), ("responses passing", s.passed),
                            ("rows (with mutants)", s.rows), ("rollouts used (cached counted)", s.rollouts),
                            ("rollouts generated", s.fresh_rollouts), ("rollouts per labeled response", s.rollouts_per_labeled_response),
                            (balance, s.positive_fraction), ("monotonicity violations", s.monotonic_violations),
                            ("beyond policy (f(0)=0)", s.beyond_policy), ("cut by max_new_tokens", s.truncated),
                            ("skipped: sandbox infra errors", s.skipped_infra)]:
            table.add_row(name, _fmt(value))
        Console().print(table)
        Console().print(f"wrote {out}/labels.jsonl|parquet, stepwise.jsonl|parquet, labels.sqlite")
        if s.skipped_infra:
            Console().print(f"[yellow]{s.skipped_infra} responses hit sandbox infra errors twice and were not stored; rerun to retry[/yellow]")

    @bench_app.command("label")
    def bench_label_command(
        config_path: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML file of LabelBenchConfig fields; flags override it"),
        policy: Optional[str] = typer.Option(None, "--policy", "-p", help="embedded (default) | tiny | hf:PATH | openai:URL"),
        benchmark: Optional[str] = typer.Option(None, "--benchmark", "-b", help="default synth:heldout"),
        limit: Optional[int] = typer.Option(None, "--limit", "-l", help="first LIMIT problems (default 30)"),
        samples: Optional[int] = typer.Option(None, "--samples", "-n", help="responses per problem (default 4)"),
        rollouts: Optional[int] = typer.Option(None, "--rollouts", "-K", help="K, rollouts per probed prefix (default 4)"),
        temperature: Optional[float] = typer.Option(None, "--temperature", "-t"),
        max_new_tokens: Optional[int] = typer.Option(None, "--max-new-tokens"),
        seed: Optional[int] = typer.Option(None, "--seed"),
        long_benchmark: Optional[str] = typer.Option(None, "--long-benchmark", help="suite of 16-40-line programs (default synth:long; 'none' to skip)"),
        long_limit: Optional[int] = typer.Option(None, "--long-limit", help="problems of the long suite (default 10)"),
        injected_limit: Optional[int] = typer.Option(None, "--injected-limit", help="problems per suite whose reference gets one injected bug (default 20; 0 skips)"),
        sets: list[str] = typer.Option([], "--set", help="KEY=VALUE override of any LabelBenchConfig field (repeatable)"),
        cache: Optional[Path] = typer.Option(None, "--cache", help="SQLite file caching rollouts/verdicts across runs"),
        json_path: Optional[Path] = typer.Option(None, "--json", help="write the report here"),
    ) -> None:
        """Binary search vs the linear scan (baseline) on the same responses, on the held-out and the long
        suite, plus label accuracy against injected bugs for every method."""
        from codeprm.config import build_from_cli
        from codeprm.labels.bench import LabelBenchConfig, run_label_bench
        from codeprm.labels.bench_report import print_report

        flags = dict(policy=policy, benchmark=benchmark, limit=limit, samples=samples, rollouts=rollouts, temperature=temperature,
                     max_new_tokens=max_new_tokens, seed=seed, long_benchmark=long_benchmark, long_limit=long_limit,
                     injected_limit=injected_limit)
        config = build_from_cli(LabelBenchConfig, config_path, flags, sets)
        report = run_label_bench(config, cache_path=cache)
        print_report(report, Console(width=max(Console().width, 150)))
        if json_path:
            json_path.parent.mkdir(parents=True, exist_ok=True)
            json_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
