"""CLI: ``codeprm eval``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    @app.command("eval")
    def eval_command(
        policy: str = typer.Option("embedded", "--policy", "-p", help="embedded | tiny | hf:PATH | openai:URL | reference"),
        benchmark: str = typer.Option("humaneval", "--benchmark", "-b", help="humaneval | synth:heldout | jsonl:PATH | mbpp:PATH | ..."),
        n: int = typer.Option(1, "-n", help="samples per problem"),
        k: str = typer.Option("1", "-k", help="comma-separated k values of pass@k"),
        limit: Optional[int] = typer.Option(None, "--limit", help="only the first LIMIT problems"),
        temperature: float = typer.Option(0.0, "--temperature", "-t", help="0 = greedy"),
        top_p: float = typer.Option(1.0, "--top-p"),
        max_new_tokens: int = typer.Option(384, "--max-new-tokens"),
        seed: int = typer.Option(0, "--seed"),
        batch_size: int = typer.Option(8, "--batch-size", help="problems per generation call"),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="directory for samples.jsonl and summary.json; rerun to resume"),
    ) -> None:
        """Sample from a policy, judge every sample in the sandbox, report pass@k."""
        from pydantic import ValidationError

        from codeprm.errors import CodeprmError
        from codeprm.evaluate.run import EvalConfig, evaluate

        try:
            ks = [int(x) for x in k.split(",") if x.strip()]
        except ValueError:
            raise CodeprmError(f"-k must be comma-separated integers, got '{k}'") from None
        try:
            config = EvalConfig(policy=policy, benchmark=benchmark, n=n, k=ks, limit=limit, temperature=temperature,
                                top_p=top_p, max_new_tokens=max_new_tokens, seed=seed, batch_size=batch_size)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise CodeprmError(f"option '{err['loc'][0]}': {err['msg']}") from None
        summary = evaluate(config, out=out)
        table = Table(title=f"{policy} on {benchmark}")
        table.add_column("problems", justify="right")
        table.add_column("samples", justify="right")
        for name in summary.pass_at_k:
            table.add_column(name, justify="right")
        table.add_column("verdicts")
        verdicts = ", ".join(f"{s}={c}" for s, c in sorted(summary.statuses.items()))
        table.add_row(str(summary.problems), str(summary.samples), *(f"{v:.3f}" for v in summary.pass_at_k.values()), verdicts)
        Console().print(table)
