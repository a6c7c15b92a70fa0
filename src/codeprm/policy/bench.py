"""Generation throughput: the same prompts decoded one at a time, then as one batch, in the same run."""

from __future__ import annotations

import time
from typing import Callable, Sequence

from pydantic import BaseModel, Field

from codeprm.errors import CodeprmError
from codeprm.policy.base import Policy


class ModeResult(BaseModel):
    mode: str = Field(description="one-at-a-time | batched")
    prompts: int = Field(description="prompts decoded")
    batch_size: int = Field(description="rows per forward pass")
    tokens: int = Field(description="tokens generated (EOS included, nothing after it)")
    seconds: float = Field(description="wall time of the generate calls")
    cpu_seconds: float = Field(description="CPU time of this process (all threads) during the calls; steadier than wall time on a busy machine")

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0

    @property
    def tokens_per_cpu_s(self) -> float:
        return self.tokens / self.cpu_seconds if self.cpu_seconds > 0 else 0.0


class GenerateBench(BaseModel):
    policy: str = Field(description="policy spec")
    max_new_tokens: int = Field(description="new tokens per prompt (no stop sequences; EOS still ends a row)")
    one_at_a_time: ModeResult
    batched: ModeResult
    same_outputs: int = Field(description="prompts whose greedy text is identical in both modes")
    load: dict = Field(default_factory=dict, description="how the policy was loaded (conversion and load seconds)")

    @property
    def speedup(self) -> float:
        """Batched over one-at-a-time tokens per wall second."""
        return self.batched.tokens_per_s / self.one_at_a_time.tokens_per_s if self.one_at_a_time.tokens_per_s else 0.0

    @property
    def cpu_speedup(self) -> float:
        """Batched over one-at-a-time tokens per CPU second."""
        return self.batched.tokens_per_cpu_s / self.one_at_a_time.tokens_per_cpu_s if self.one_at_a_time.tokens_per_cpu_s else 0.0

    def as_json(self) -> dict:
        data = self.model_dump()
        for mode in ("one_at_a_time", "batched"):
            data[mode]["tokens_per_s"] = getattr(self, mode).tokens_per_s
            data[mode]["tokens_per_cpu_s"] = getattr(self, mode).tokens_per_cpu_s
        data["speedup"] = self.speedup
        data["cpu_speedup"] = self.cpu_speedup
        return data


def _with_batch_size(policy: Policy, batch_size: int) -> None:
    config = getattr(policy, "config", None)
    if config is None or not hasattr(config, "batch_size"):
        raise CodeprmError(f"policy {policy.name} has no batch size to benchmark")
    policy.config = config.model_copy(update={"batch_size": batch_size})


def _generated_tokens(rows) -> int:
    try:
        return sum(c.meta["generated_tokens"] for row in rows for c in row)
    except KeyError:
        raise CodeprmError("bench generate needs a policy that counts its tokens (embedded, tiny, hf:PATH)") from None


def bench_generate(policy: Policy, prompts: Sequence[str], max_new_tokens: int, spec: str = "", on_prompt: Callable[[], None] | None = None) -> GenerateBench:
    """Greedy decoding of ``prompts`` one at a time, then all in one batch (batch size = #prompts)."""
    _with_batch_size(policy, 1)
    policy.generate([prompts[0]], max_new_tokens=2)  # warm-up: first-call allocations are not throughput
    sequential, seconds, cpu = [], 0.0, 0.0
    for prompt in prompts:
        start, cpu_start = time.perf_counter(), time.process_time()
        sequential.extend(policy.generate([prompt], max_new_tokens=max_new_tokens))
        seconds += time.perf_counter() - start
        cpu += time.process_time() - cpu_start
        if on_prompt:
            on_prompt()
    one = ModeResult(mode="one-at-a-time", prompts=len(prompts), batch_size=1, tokens=_generated_tokens(sequential), seconds=seconds, cpu_seconds=cpu)
    _with_batch_size(policy, len(prompts))
    start, cpu_start = time.perf_counter(), time.process_time()
    batched_rows = policy.generate(list(prompts), max_new_tokens=max_new_tokens)
    batched = ModeResult(mode="batched", prompts=len(prompts), batch_size=len(prompts), tokens=_generated_tokens(batched_rows),
                         seconds=time.perf_counter() - start, cpu_seconds=time.process_time() - cpu_start)
    same = sum(a[0].text == b[0].text for a, b in zip(sequential, batched_rows))
    return GenerateBench(policy=spec or policy.name, max_new_tokens=max_new_tokens, one_at_a_time=one, batched=batched, same_outputs=same, load=dict(getattr(policy, "load_info", {}) or {}))
