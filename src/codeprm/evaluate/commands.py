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
        config_path: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML file of EvalConfig fields; flags override it"),
        policy: Optional[str] = typer.Option(None, "--policy", "-p", help="embedded (default) | tiny | hf:PATH | openai:URL | reference"),
        benchmark: Optional[str] = typer.Option(None, "--benchmark", "-b", help="humaneval (default) | synth:heldout | jsonl:PATH | mbpp:PATH | ..."),
        samples: Optional[str] = typer.Option(None, "--samples", "-n", help="samples per problem (default 1), or a FILE of samples generated elsewhere to judge (human-eval/evalplus {task_id, completion}, codeprm samples.jsonl, CodeT {prompt, samples})"),
        k: Optional[list[int]] = typer.Option(None, "-k", help="k of pass@k, repeatable (default 1)"),
        limit: Optional[int] = typer.Option(None, "--limit", "-l", help="only the first LIMIT problems"),
        temperature: Optional[float] = typer.Option(None, "--temperature", "-t", help="0 = greedy (default)"),
        top_p: Optional[float] = typer.Option(None, "--top-p"),
        max_new_tokens: Optional[int] = typer.Option(None, "--max-new-tokens", help="default 384"),
        seed: Optional[int] = typer.Option(None, "--seed"),
        batch_size: Optional[int] = typer.Option(None, "--batch-size", help="problems per generation call"),
        threads: Optional[int] = typer.Option(None, "--threads", help="torch CPU threads for generation (default: torch's, every core)"),
        sets: list[str] = typer.Option([], "--set", help="KEY=VALUE override of any EvalConfig field (repeatable)"),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="directory for samples.jsonl and summary.json"),
        resume: bool = typer.Option(True, "--resume/--no-resume", help="continue the run in --out (default) or discard it and start over"),
        executor: str = typer.Option("local", "--executor", help="local (a Sandbox here) | ray (a Ray pool of sandboxes; pip install 'codeprm[ray]')"),
        ray_address: Optional[str] = typer.Option(None, "--ray-address", help="with --executor ray: the cluster address (default: a local Ray)"),
        count_untrusted: bool = typer.Option(False, "--count-untrusted", help="with --samples FILE: count passes decided inside the program's "
                                             "process (whole-program harnesses such as HumanEval-X's; forgeable by the program), else 'unverified'"),
    ) -> None:
        """Sample from a policy, judge every sample in the sandbox, report pass@k."""
        from codeprm.config import build_from_cli
        from codeprm.integrations.ray import make_executor
        from codeprm.evaluate.run import EvalConfig, evaluate

        if samples is not None and not samples.strip().isdigit():  # a file: judge samples generated elsewhere
            from codeprm.evaluate.external import judge_command

            return judge_command(Path(samples), benchmark or "humaneval", k or [1, 10, 100], limit, out, resume, count_untrusted)
        samples = int(samples) if samples is not None else None
        flags = dict(policy=policy, benchmark=benchmark, samples=samples, k=k or None, limit=limit, temperature=temperature,
                     top_p=top_p, max_new_tokens=max_new_tokens, seed=seed, batch_size=batch_size, threads=threads)
        config = build_from_cli(EvalConfig, config_path, flags, sets)
        with make_executor(executor, ray_address=ray_address) as sandbox:
            summary = evaluate(config, out=out, resume=resume, sandbox=sandbox)
        table = Table(title=f"{config.policy} on {config.benchmark}")
        table.add_column("problems", justify="right")
        table.add_column("samples", justify="right")
        for name in summary.pass_at_k:
            table.add_column(name, justify="right")
        table.add_column("verdicts")
        verdicts = ", ".join(f"{s}={c}" for s, c in sorted(summary.statuses.items()))
        table.add_row(str(summary.problems), str(summary.samples), *(f"{v:.3f}" for v in summary.pass_at_k.values()), verdicts)
        Console().print(table)
