"""CLI: ``codeprm export`` (a benchmark as verl / TRL / OpenRLHF rows) and ``codeprm bench ray``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    @app.command("export")
    def export_command(
        benchmark: str = typer.Argument(..., help="benchmark name (humaneval, mbpp, synth:train, jsonl:PATH, ...)"),
        fmt: str = typer.Option(..., "--format", "-f", help="verl (parquet), trl (datasets.save_to_disk), openrlhf (JSONL)"),
        out: Path = typer.Option(..., "--out", "-o", help="output directory"),
        limit: Optional[int] = typer.Option(None, "--limit", "-l", min=1, help="first N problems only"),
        by_name: bool = typer.Option(False, "--by-name", help="label rows with 'BENCHMARK#ID' instead of the problem's JSON"),
        split: str = typer.Option("train", "--split", help="file name of the verl parquet / OpenRLHF JSONL (and extra_info.split)"),
    ) -> None:
        """A benchmark as the rows a trainer reads, each naming its problem for the codeprm reward."""
        from rich.console import Console

        from codeprm.integrations.export import export

        path = export(fmt, benchmark, out, limit, by_name, split)
        Console().print(f"wrote {path}")

    @bench_app.command("ray")
    def bench_ray_command(
        config_path: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML file of RayBenchConfig fields"),
        samples: Optional[int] = typer.Option(None, "--samples", "-n", help="real samples to judge [500]"),
        actors: Optional[int] = typer.Option(None, "--actors", help="Ray actors [2]"),
        workers_per_actor: Optional[int] = typer.Option(None, "--workers-per-actor", help="sandbox workers per actor [2]"),
        ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Ray cluster address (default: a local Ray)"),
        seed: Optional[int] = typer.Option(None, "--seed", help="which samples [0]"),
        json_path: Optional[Path] = typer.Option(None, "--json", help="also write the numbers to this JSON file"),
        sets: List[str] = typer.Option([], "--set", help="KEY=VALUE override of a config field (repeatable)"),
    ) -> None:
        """Real samples through a local Sandbox (the baseline) and a Ray actor pool of sandboxes."""
        from rich.console import Console
        from rich.status import Status

        from codeprm.config import build_from_cli
        from codeprm.integrations.bench_ray import RayBenchConfig, run_ray_bench

        config = build_from_cli(RayBenchConfig, config_path, {"samples": samples, "actors": actors, "workers_per_actor": workers_per_actor,
                                                              "ray_address": ray_address, "seed": seed}, sets)
        with Status("starting", console=Console(stderr=True)) as status:
            out = run_ray_bench(config, progress=lambda msg: status.update(msg))
        Console().print(
            f"{out['samples']} real samples, {out['workers']} sandbox workers: local Sandbox {out['local_samples_per_s']} samples/s, "
            f"Ray pool ({out['actors']} actors) {out['ray_samples_per_s']} samples/s ({out['ray_overhead_ms_per_sample']} ms/sample more; "
            f"Ray start {out['ray_startup_s']} s); verdict agreement {out['verdict_agreement']:.3f} "
            f"(load average {out['load_average_at_start']:.1f} -> {out['load_average_at_end']:.1f})")
        if json_path is not None:
            json_path.parent.mkdir(parents=True, exist_ok=True)
            json_path.write_text(json.dumps(out, indent=2) + "\n")
