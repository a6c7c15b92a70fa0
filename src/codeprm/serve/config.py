"""The server's configuration (kept apart from the app so the CLI needs no FastAPI to show --help)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from codeprm.config import StrictModel


class ServeConfig(StrictModel):
    """How ``codeprm serve`` runs."""

    host: str = Field("127.0.0.1", description="address to listen on (0.0.0.0 to accept other machines)")
    port: int = Field(8080, ge=0, le=65535, description="TCP port (SandboxFusion's default is 8080)")
    workers: int = Field(4, ge=1, le=256, description="sandbox workers = requests running at once")
    queue: int = Field(256, ge=0, le=100_000, description="requests that may wait for a worker; one more gets 429")
    retry_after_s: int = Field(1, ge=0, le=3600, description="the Retry-After a 429 carries")
    max_body_bytes: int = Field(2 << 20, ge=1024, le=1 << 30, description="largest request body; larger gets 413")
    max_batch: int = Field(1024, ge=1, le=100_000, description="most queries in one /get_reward request")
    prm: str | None = Field(None, description="PRM checkpoint directory for /score_lines and PRM rewards")
    prm_weight: float = Field(0.0, ge=0, le=100, description="/get_reward adds prm_weight * (lowest PRM line score) to the outcome")
    isolation: Literal["full", "rlimits-only"] = Field("full", description="sandbox isolation: full or rlimits-only (see the sandbox README)")
    packages: list[str] | None = Field(None, description=(
        "Python packages /run_code programs may import (bound into the sandbox's root); None: numpy when this "
        "host has it (SandboxFusion's runtime ships the scientific stack)"))
    benchmark_paths: bool = Field(False, description=(
        "let problem specs name benchmark files on this machine (jsonl:PATH#ID, humaneval:PATH#ID); off by default "
        "so that clients can only name built-in benchmarks (humaneval#ID, synth:train#ID) or send the problem itself"))
