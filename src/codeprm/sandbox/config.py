"""Sandbox configuration: one pydantic model, every field documented once."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Isolation = Literal["full", "weaker", "rlimits-only"]


class SandboxConfig(BaseModel):
    """How the sandbox runs samples. Per-problem limits (CPU seconds, memory) come from the Problem."""

    model_config = ConfigDict(extra="forbid")

    workers: int = Field(default_factory=lambda: 2 * (os.cpu_count() or 1), ge=1, le=256, description=(
        "zygote processes, each running one sample at a time (default: two per core, so that one worker's "
        "bookkeeping and wake-ups overlap another's sample and every core stays busy)"))
    isolation: Isolation = Field(default="full", description=(
        "full: namespaces + read-only filesystem + unprivileged uid + seccomp (needs root, namespaces, "
        "libseccomp and an allow-list root; start-up fails naming what is missing). weaker: full, except that where "
        "the allow-list root (or a private /proc) cannot be built the sample sees the host's filesystem read-only. "
        "rlimits-only: rlimits, process-group kill and a private cwd only; for code you already trust or a host that "
        "is itself a disposable sandbox. Every Result records the mode (Result.isolation)"))
    cgroup: Literal["auto", "required", "off"] = Field(default="auto", description=(
        "cgroup v1 memory+pids limits per worker: auto uses them when writable, required fails without them"))
    wall_time_factor: float = Field(default=3.0, ge=1.0, le=100.0,
                                    description="wall-clock budget of a test = factor * problem.time_limit_s + wall_time_extra_s")
    wall_time_extra_s: float = Field(default=1.0, ge=0.0, le=60.0,
                                     description="wall seconds added to every test's budget (start-up, a loaded machine)")
    stdout_limit_bytes: int = Field(default=8 << 20, ge=1024, le=1 << 30, description="stdout a child may write before output_limit")
    stderr_limit_bytes: int = Field(default=1 << 20, ge=1024, le=1 << 30, description="stderr a child may write before output_limit")
    result_limit_bytes: int = Field(default=16 << 20, ge=1024, le=1 << 30,
                                    description="encoded return values a child may send before output_limit")
    max_processes: int = Field(default=32, ge=1, le=4096, description="processes+threads a sample may have (RLIMIT_NPROC, pids cgroup)")
    file_size_limit_mb: int = Field(default=16, ge=1, le=1 << 16, description="largest file a sample may write (RLIMIT_FSIZE)")
    open_files: int = Field(default=256, ge=16, le=1 << 16, description="file descriptors a sample may hold (RLIMIT_NOFILE)")
    tmp_size_mb: int = Field(default=64, ge=1, le=1 << 16, description="size of each worker's private tmpfs /tmp")
    tmp_inodes: int = Field(default=4096, ge=16, le=1 << 24, description="files a worker's private /tmp may hold")
    float_tolerance: float | None = Field(default=None, ge=0, le=1, description=(
        "opt-in tolerance for numbers, for problems that do not set their own (Problem.float_tolerance): None compares "
        "exactly and by type (an int expected accepts an int only); a value lets an int and a float match within "
        "math.isclose(rel_tol=abs_tol=value), and float-looking stdout tokens too (see compare.py)"))
    sample_cpu_budget_s: float | None = Field(default=None, gt=0, le=3600, description=(
        "CPU seconds a whole sample may use over all its tests and child runs; None: time_limit_s * (tests + 1). "
        "Tests left when it runs out are timeouts"))
    stop_at_first_failure: bool = Field(default=False, description=(
        "after a child run ends in a crash, timeout, memory or output limit (something the program itself saw), mark "
        "the tests it did not reach 'skipped' instead of starting another child: enough for callers that only need "
        "Result.passed (pass@k, outcome rewards); pass_rate is then a lower bound. A wrong answer does not stop later "
        "stdin/stdout tests: being started would tell a program that its earlier output was right"))
    coverage: bool = Field(default=False, description="record the program lines executed (Result.lines_executed)")
    hide_paths: list[str] | None = Field(default=None, description=(
        "directories replaced by an empty read-only tmpfs inside the sandbox; None hides site-packages, the "
        "user site and the current directory (where datasets and expected outputs tend to live)"))
    packages: list[str] = Field(default_factory=list, description=(
        "importable packages a sample may use, by top-level name (numpy): their own directory and the shared "
        "libraries they load are added to the sample's filesystem, never the whole site-packages; list a "
        "package's dependencies too"))
    languages: list[str] = Field(default_factory=lambda: ["python", "c", "cpp"], description=(
        "languages this sandbox judges (codeprm.sandbox.native); each compiled one's runtime joins the allow-list root "
        "when its toolchain is here (cpp: libstdc++; java: the JDK, opt-in because it is large)"))
    extra_paths: list[str] = Field(default_factory=list, description=(
        "host files or directories added read-only to the sample's filesystem at the same path (everything "
        "else of the host stays invisible); a path that does not exist is refused at start-up"))

    @field_validator("packages")
    @classmethod
    def _packages_installed(cls, names: list[str]) -> list[str]:
        from codeprm.sandbox.rootfs import package_paths

        for name in names:
            package_paths(name)  # ValueError naming the package when it is not importable
        return names

    @field_validator("extra_paths")
    @classmethod
    def _paths_exist(cls, paths: list[str]) -> list[str]:
        for path in paths:
            if not os.path.isabs(path) or os.path.realpath(path) == "/":
                raise ValueError(f"extra path '{path}' must be absolute and not '/'")
            if not os.path.exists(path):
                raise ValueError(f"extra path '{path}' does not exist")
            top = os.path.realpath(path).split("/")[1]
            if top in ("tmp", "proc", "dev", "sys"):
                raise ValueError(f"extra path '{path}' is under /{top}, which the sandbox replaces with its own")
        return paths
    stderr_excerpt_chars: int = Field(default=1000, ge=0, le=1 << 26, description="stderr kept in each failing TestResult")
    start_timeout_s: float = Field(default=60.0, gt=0, le=600, description="how long a zygote may take to start")
