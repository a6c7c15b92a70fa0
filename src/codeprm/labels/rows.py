"""``LineLabels``: one labeled response, the row the store keeps and the exports write
(the schema is fixed by the label data format shared with the PRM and RL stages)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Method = Literal["binary", "linear", "mc", "mutation"]


class LineLabels(BaseModel):
    problem_id: str = Field(description="id of the problem")
    sample_index: int = Field(default=0, description="which of the S sampled responses of the problem")
    variant: int = Field(default=0, description="0: the response itself; i >= 1: its i-th failing mutant (mutation method)")
    prompt: str = Field(description="problem.prompt")
    policy_prompt: str = Field(description="policy.prompt_for(problem): the exact text the policy continued")
    completion: str = Field(description="the response text; program = problem.program(completion)")
    lines: list[str] = Field(description="physical lines of the completion (no trailing empty string)")
    labels: list[float | None] = Field(description="+1/-1 hard labels, [0,1] soft labels, None for neutral or unlabeled lines")
    first_error: int | None = Field(default=None, description="0-based index of the first wrong line; None if passed or unlabeled")
    passed: bool = Field(description="the response itself passes all tests")
    status: str = Field(description="the response's verdict (Result.status)")
    method: Method = Field(description="labeling method")
    k: int = Field(description="rollouts per probed prefix")
    rollouts: int = Field(default=0, description="policy samples this label cost, counting cached ones as if fresh")
    fresh_rollouts: int = Field(default=0, description="policy samples actually generated (cache misses)")
    probes: int = Field(default=0, description="prefixes evaluated")
    monotonic_violation: bool = Field(default=False, description="a prefix after one with f = 0 had f = 1 again")
    beyond_policy: bool = Field(default=False, description="f(0) = 0: no rollout from the empty prefix passed; nothing labeled")
    empty_prefix_value: float | None = Field(default=None, description="f(0) (pass fraction for mc); None if not probed")
    prefix_values: list[float | None] = Field(default_factory=list, description="per line: f of the prefix ending after it, when probed")
    truncated: bool = Field(default=False, description="the response was cut by max_new_tokens: its failure is not blamed on its last line")
    mutation: str | None = Field(default=None, description="mutation operator applied to the first_error line (mutation method)")

    @property
    def labeled(self) -> bool:
        return any(v is not None for v in self.labels)
