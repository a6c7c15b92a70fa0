"""CLI: ``codeprm label`` and ``codeprm bench label``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table


def _config(cls, **values):
    from pydantic import ValidationError

    from codeprm.errors import CodeprmError

    try:
        return cls(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise CodeprmError(f"option '{err['loc'][0]}': {err['msg']}") from None


def _fmt(value, digits: int = 2) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    @app.command("label")
    def label_command(
        policy: str = typer.Option("tiny", "--policy", "-p", help="embedded | tiny | hf:PATH | openai:URL | reference"),
        benchmark: str = typer.Option("synth:train", "--benchmark", "-b", help="synth:train | humaneval | jsonl:PATH | ..."),
        method: str = typer.Option("binary", "--method", "-m", help="binary | linear | mc | mutation"),
        k: int = typer.Option(4, "-k", help="rollouts per probed prefix"),
        samples: int = typer.Option(4, "--samples", "-s", help="responses sampled per problem"),
        out: Path = typer.Option(..., "--out", "-o", help="output directory (labels.sqlite + exports); rerun to resume"),
        limit: Optional[int] = typer.Option(None, "--limit", help="only the first LIMIT problems"),
        temperature: float = typer.Option(0.8, "--temperature", "-t"),
        top_p: float = typer.Option(0.95, "--top-p"),
        max_new_tokens: int = typer.Option(256, "--max-new-tokens"),
        seed: int = typer.Option(0, "--seed"),
        mutants: int = typer.Option(4, "--mutants", help="mutation method: failing mutants kept per passing response"),
    ) -> None:
        """Sample responses from a policy and label every line by searching over policy rollouts."""
        from codeprm.labels.job import LabelConfig, run_label_job

        config = _config(LabelConfig, policy=policy, benchmark=benchmark, method=method, k=k, samples=samples,
                         limit=limit, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens,
                         seed=seed, mutants=mutants)
        s = run_label_job(config, out)
        table = Table(title=f"{method} labels: {policy} on {benchmark} (K={k})")
        table.add_column("")
        table.add_column("value", justify="right")
        balance = "mean soft label" if method == "mc" else "+1 share of labels"
        for name, value in [("responses", s.responses), ("responses labeled", s.labeled), ("responses passing", s.passed),
                            ("rows (with mutants)", s.rows), ("rollouts used (cached counted)", s.rollouts),
                            ("rollouts generated", s.fresh_rollouts), ("rollouts per labeled response", s.rollouts_per_labeled_response),
                            (balance, s.positive_fraction), ("monotonicity violations", s.monotonic_violations),
                            ("beyond policy (f(0)=0)", s.beyond_policy), ("skipped: sandbox infra errors", s.skipped_infra)]:
            table.add_row(name, _fmt(value))
        Console().print(table)
        Console().print(f"wrote {out}/labels.jsonl|parquet, stepwise.jsonl|parquet, labels.sqlite")
        if s.skipped_infra:
            Console().print(f"[yellow]{s.skipped_infra} responses hit sandbox infra errors twice and were not stored; rerun to retry[/yellow]")

    @bench_app.command("label")
    def bench_label_command(
        policy: str = typer.Option("tiny", "--policy", "-p"),
        benchmark: str = typer.Option("synth:heldout", "--benchmark", "-b"),
        limit: Optional[int] = typer.Option(30, "--limit", help="first LIMIT problems"),
        samples: int = typer.Option(4, "--samples", "-s", help="responses per problem"),
        k: int = typer.Option(4, "-k", help="rollouts per probed prefix"),
        temperature: float = typer.Option(0.8, "--temperature", "-t"),
        max_new_tokens: int = typer.Option(256, "--max-new-tokens"),
        seed: int = typer.Option(0, "--seed"),
        cache: Optional[Path] = typer.Option(None, "--cache", help="SQLite file caching rollouts/verdicts across runs"),
        json_path: Optional[Path] = typer.Option(None, "--json", help="write the report here"),
    ) -> None:
        """Binary search vs the linear scan (baseline) on the same responses: rollouts and agreement."""
        from codeprm.labels.bench import LabelBenchConfig, run_label_bench

        config = _config(LabelBenchConfig, policy=policy, benchmark=benchmark, limit=limit, samples=samples, k=k,
                         temperature=temperature, max_new_tokens=max_new_tokens, seed=seed)
        report = run_label_bench(config, cache_path=cache)
        table = Table(title=f"first-error search, {policy} on {benchmark}, K={k}: linear (baseline) vs binary")
        for name in ("L", "resp", "fail", "lin r/resp", "plain r/resp", "bin r/resp", "plain/lin", "bin/lin",
                     "plain agree", "bin agree", "bin probes max", ">log2L+2"):
            table.add_column(name, justify="right")
        for row in [*report["by_length"], {**report, "lines": "all"}]:
            table.add_row(str(row["lines"]), str(row["responses"]), str(row["failing"]),
                          _fmt(row["linear_rollouts_per_response"], 1), _fmt(row["plain_binary_rollouts_per_response"], 1),
                          _fmt(row["binary_rollouts_per_response"], 1), _fmt(row["plain_binary_over_linear"]),
                          _fmt(row["binary_over_linear"]), _fmt(row["plain_first_error_agreement"], 3),
                          _fmt(row["first_error_agreement"], 3), _fmt(row["binary_probes_max"]),
                          str(row["probe_bound_exceeded"] + row["plain_probe_bound_exceeded"]))
        console = Console(width=max(Console().width, 150))  # the table is wide; do not squeeze it into 80 columns
        console.print(table)
        console.print(f"binary/linear on responses that needed a search (failing, not beyond the policy): "
                      f"{_fmt(report['searched_binary_over_linear'])}; each method alone with its cache (distinct prefixes): "
                      f"{_fmt(report['distinct_binary_over_linear'])} (plain {_fmt(report['distinct_plain_binary_over_linear'])})")
        console.print(f"L>=16: binary/linear = {_fmt(report['long_binary_over_linear'])} (plain "
                      f"{_fmt(report['long_plain_binary_over_linear'])}) over {report['long_responses']} responses; "
                      f"passed {report['passed']}, beyond policy {report['beyond_policy']}, monotonicity violations (linear) "
                      f"{report['monotonic_violations']}, infra-skipped {report['skipped_infra']}, fresh rollouts "
                      f"{report['fresh_rollouts']}, {report['wall_s']} s")
        if json_path:
            json_path.parent.mkdir(parents=True, exist_ok=True)
            json_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
