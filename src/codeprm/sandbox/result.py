"""Verdicts: what the trusted side concluded about one program on one problem."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Isolation = Literal["full", "weaker", "rlimits-only"]
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
    trusted: bool = Field(default=True, description=(
        "False when the verdict was computed inside the child (an assert test that could not be judged on the host): "
        "a program can forge it, so Result.passed/pass_rate/status do not count it as a pass"))

    @property
    def trusted_pass(self) -> bool:
        return self.status == "pass" and self.trusted


class Result(BaseModel):
    problem_id: str
    tests: list[TestResult] = Field(default_factory=list)
    isolation: Isolation | None = Field(default=None, description="the isolation mode that judged this result")
    error_line_trusted: bool = Field(default=False, description=(
        "True only for a syntax error's line (reported before any program code ran); other lines are the program's claim"))
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
        """True only when there is at least one test and every test has an explicit, trusted pass record.
        A pass computed inside the child (untrusted assert) does not count: see ``passed_counting_untrusted``."""
        return bool(self.tests) and all(t.trusted_pass for t in self.tests)

    @property
    def passed_counting_untrusted(self) -> bool:
        """Opt-in, by name: like ``passed`` but believing untrusted assert verdicts (forgeable by the program)."""
        return bool(self.tests) and all(t.status == "pass" for t in self.tests)

    @property
    def pass_rate(self) -> float:
        """Share of tests with a trusted pass."""
        return sum(t.trusted_pass for t in self.tests) / len(self.tests) if self.tests else 0.0

    @property
    def infra_error(self) -> bool:
        return any(t.status == "infra_error" for t in self.tests)

    @property
    def status(self) -> str:
        """``pass``, or the first status that is not a pass (a ``skipped`` test only follows a failure);
        ``unverified`` when the only non-passes are untrusted passes."""
        for t in self.tests:
            if t.status not in ("pass", "skipped"):
                return t.status
        if any(t.status == "pass" and not t.trusted for t in self.tests):
            return "unverified"
        return "pass" if self.tests else "infra_error"
