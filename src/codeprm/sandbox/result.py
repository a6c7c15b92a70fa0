"""Verdicts: what the trusted side concluded about one program on one problem."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Status = Literal["pass", "fail", "timeout", "runtime_error", "memory", "syntax_error", "output_limit", "infra_error", "skipped"]
# skipped: not run because an earlier test failed and the caller asked for stop_at_first_failure


class TestResult(BaseModel):
    __test__ = False  # not a pytest test class

    status: Status
    time_s: float = Field(default=0.0, description="wall seconds the test took, as the zygote measured it")
    cpu_time_s: float = Field(default=0.0, description=(
        "CPU seconds of every process of the sample while this test ran, as the zygote measured it (cgroup cpuacct)"))
    stderr: str = Field(default="", description="short excerpt of the program's stderr")
    detail: str = Field(default="", description="why it failed, e.g. a repr of the wrong value")
    trusted: bool = Field(default=True, description="False when the verdict was computed inside the child (assert tests)")


class Result(BaseModel):
    problem_id: str
    tests: list[TestResult] = Field(default_factory=list)
    error_line: int | None = Field(default=None, description=(
        "1-based program line where an uncaught exception was raised (reported by the program's own process: "
        "a hostile program can forge it; a syntax error's line is reported before any program code runs)"))
    lines_executed: list[int] | None = Field(default=None, description=(
        "program lines executed, when coverage was asked for; UNTRUSTED (see coverage_trusted)"))
    coverage_trusted: bool = Field(default=False, description=(
        "always False: lines_executed is traced inside the program's own process, so a program can claim lines "
        "that never ran; rewards must not pay for coverage"))
    time_s: float = Field(default=0.0, description="wall seconds for the whole sample")

    @property
    def passed(self) -> bool:
        """True only when there is at least one test and every test has an explicit pass record."""
        return bool(self.tests) and all(t.status == "pass" for t in self.tests)

    @property
    def pass_rate(self) -> float:
        return sum(t.status == "pass" for t in self.tests) / len(self.tests) if self.tests else 0.0

    @property
    def infra_error(self) -> bool:
        return any(t.status == "infra_error" for t in self.tests)

    @property
    def status(self) -> Status:
        """``pass``, or the first status that is not a pass (a ``skipped`` test only follows a failure)."""
        for t in self.tests:
            if t.status not in ("pass", "skipped"):
                return t.status
        return "pass" if self.tests else "infra_error"
