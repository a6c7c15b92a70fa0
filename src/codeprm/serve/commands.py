"""CLI: ``codeprm serve`` and ``codeprm bench serve``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer


def _require_serve_extra() -> None:
    from codeprm.errors import CodeprmError

    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ModuleNotFoundError as exc:
        raise CodeprmError(f"codeprm serve needs the 'serve' extra ({exc.name} is missing): pip install 'codeprm[serve]'") from None


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    @app.command("serve")
    def serve_command(
        config_path: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML file of ServeConfig fields; flags override it"),
        host: Optional[str] = typer.Option(None, "--host", help="address to listen on [127.0.0.1]"),
        port: Optional[int] = typer.Option(None, "--port", help="TCP port [8080]"),
        workers: Optional[int] = typer.Option(None, "--workers", help="sandbox workers = requests running at once [4]"),
        queue: Optional[int] = typer.Option(None, "--queue", help="requests that may wait; one more gets 429 [256]"),
        prm: Optional[str] = typer.Option(None, "--prm", help="PRM checkpoint directory (/score_lines, PRM rewards)"),
        prm_weight: Optional[float] = typer.Option(None, "--prm-weight", help="/get_reward adds this times the lowest PRM line score [0]"),
        isolation: Optional[str] = typer.Option(None, "--isolation", help="sandbox isolation: full | rlimits-only [full]"),
        sets: List[str] = typer.Option([], "--set", help="KEY=VALUE override of a config field (repeatable)"),
    ) -> None:
        """SandboxFusion-compatible /run_code, /judge, OpenRLHF's /get_reward, /score_lines, /healthz, /metrics."""
        from codeprm.config import build_from_cli
        from codeprm.serve.config import ServeConfig

        config = build_from_cli(ServeConfig, config_path, {"host": host, "port": port, "workers": workers, "queue": queue,
                                                           "prm": prm, "prm_weight": prm_weight, "isolation": isolation}, sets)
        _require_serve_extra()
        import uvicorn

        from codeprm.serve.app import create_app

        uvicorn.run(create_app(config), host=config.host, port=config.port, log_level="warning", backlog=4096)

    @bench_app.command("serve")
    def bench_serve_command(
        config_path: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML file of ServeBenchConfig fields"),
        requests: Optional[int] = typer.Option(None, "--requests", help="burst size: requests sent at once [1000]"),
        clients: Optional[int] = typer.Option(None, "--clients", help="closed-loop concurrent clients [100]"),
        loop_requests: Optional[int] = typer.Option(None, "--loop-requests", help="closed-loop requests in all [1000]"),
        workers: Optional[int] = typer.Option(None, "--workers", help="server (and baseline) sandbox workers [4]"),
        queue: Optional[int] = typer.Option(None, "--queue", help="server queue [256]"),
        seed: Optional[int] = typer.Option(None, "--seed", help="which real samples [0]"),
        json_path: Optional[Path] = typer.Option(None, "--json", help="also write the numbers to this JSON file"),
        sets: List[str] = typer.Option([], "--set", help="KEY=VALUE override of a config field (repeatable)"),
    ) -> None:
        """Load test of /run_code with real samples; the baseline is a direct in-process Sandbox.run."""
        from rich.console import Console
        from rich.status import Status

        from codeprm.config import build_from_cli
        from codeprm.serve.bench import ServeBenchConfig, run_serve_bench

        config = build_from_cli(ServeBenchConfig, config_path, {"requests": requests, "clients": clients, "loop_requests": loop_requests,
                                                                "workers": workers, "queue": queue, "seed": seed}, sets)
        _require_serve_extra()
        console = Console(stderr=True)
        with Status("starting", console=console) as status:
            out = run_serve_bench(config, progress=lambda msg: status.update(msg))
        c = out["clients"]
        Console().print(
            f"burst of {out['requests']} /run_code: status {out['status_counts']}, {out['mismatched_verdicts']} verdicts differ from a "
            f"direct Sandbox.run, server peak RSS {out['peak_rss_mb']} MB, /healthz after: {'ok' if out['healthz_after'] else 'FAILED'}\n"
            f"{c} clients: {out[f'rps_at_{c}']} requests/s, p50 {out[f'p50_ms_at_{c}']} ms, p99 {out[f'p99_ms_at_{c}']} ms "
            f"(429 retries {out['loop_429_retries']})\n"
            f"baseline, direct in-process Sandbox.run_many: {out['baseline_direct_sandbox_samples_per_s']} samples/s, "
            f"of the /run_code runner programs: {out['baseline_direct_runner_samples_per_s']} samples/s "
            f"({out['workers']} workers; load average {out['load_average_at_start']:.1f} -> {out['load_average_at_end']:.1f})")
        if json_path is not None:
            json_path.parent.mkdir(parents=True, exist_ok=True)
            json_path.write_text(json.dumps(out, indent=2) + "\n")
