"""``codeprm bench ray``: the same real samples through a local ``Sandbox`` and a ``RaySandboxPool`` with as
many sandbox workers in all, on one machine: samples/s of each and whether every verdict agrees.

On one machine Ray can only add cost (actor processes, object transfer, scheduling); what it buys is
more machines. The per-sample overhead measured here is what each extra machine pays on top of its own
sandbox work, so N machines give about N x (Ray pool samples/s) while the driver keeps up.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable

from pydantic import Field

from codeprm.config import StrictModel
from codeprm.integrations.workload import DATA, load_programs, verdict_of_result


class RayBenchConfig(StrictModel):
    samples: int = Field(500, ge=1, le=100_000, description="real samples (self-checking programs) to judge")
    actors: int = Field(2, ge=1, le=1024, description="Ray actors, each one Sandbox")
    workers_per_actor: int = Field(2, ge=1, le=256, description="sandbox workers per actor (local Sandbox: actors x this)")
    run_timeout: float = Field(1.0, gt=0, le=60, description="CPU seconds per program")
    ray_address: str | None = Field(None, description="Ray cluster address; None starts a local Ray")
    seed: int = Field(0, description="which samples")


def run_ray_bench(cfg: RayBenchConfig, progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    from codeprm.integrations.ray import RaySandboxPool
    from codeprm.problems import Problem, TestCase
    from codeprm.sandbox import Sandbox

    progress("loading real samples")
    programs = load_programs(DATA, cfg.samples, cfg.seed)
    problem = Problem(id="direct", prompt="", style="instruct", time_limit_s=cfg.run_timeout, memory_limit_mb=1024,
                      tests=[TestCase.stdio(stdin="", stdout="")])
    pairs = [(p, problem) for p in programs]
    load_start = os.getloadavg()[0]
    workers = cfg.actors * cfg.workers_per_actor
    progress(f"local Sandbox, {workers} workers")
    with Sandbox(workers=workers) as sandbox:
        start = time.perf_counter()
        local = sandbox.run_many(pairs)
        local_s = time.perf_counter() - start
    progress(f"Ray pool, {cfg.actors} actors x {cfg.workers_per_actor} workers")
    start = time.perf_counter()
    with RaySandboxPool(actors=cfg.actors, workers_per_actor=cfg.workers_per_actor, address=cfg.ray_address,
                        num_cpus_per_actor=0.5) as pool:
        startup_s = time.perf_counter() - start
        start = time.perf_counter()
        remote = pool.run_many(pairs)
        ray_s = time.perf_counter() - start
    agree = sum(verdict_of_result(a) == verdict_of_result(b) for a, b in zip(local, remote))
    return {
        "samples": len(pairs), "workers": workers, "actors": cfg.actors, "workers_per_actor": cfg.workers_per_actor,
        "local_samples_per_s": round(len(pairs) / local_s, 1), "ray_samples_per_s": round(len(pairs) / ray_s, 1),
        "ray_overhead_ms_per_sample": round(1000 * (ray_s - local_s) / len(pairs), 2), "ray_startup_s": round(startup_s, 1),
        "verdict_agreement": agree / len(pairs), "run_timeout_s": cfg.run_timeout, "seed": cfg.seed,
        "cpus": os.cpu_count(), "load_average_at_start": load_start, "load_average_at_end": os.getloadavg()[0],
    }
