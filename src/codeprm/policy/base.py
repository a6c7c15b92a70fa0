"""The policy interface: prompts in, completions (and, for RL, their token log-probs) out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Sequence

from codeprm.problems import Problem


@dataclass
class Completion:
    text: str
    token_ids: list[int] | None = None  # generated tokens, when return_logprobs=True
    logprobs: list[float] | None = None  # log p(token) under the sampling distribution's model, per token
    finish_reason: str = "stop"  # "stop" (stop sequence or EOS) or "length"
    meta: dict = field(default_factory=dict)


class Policy(ABC):
    """Anything that writes code. A completion always *continues* ``prompt_for(problem)``; for
    completion-style problems the program is ``problem.prompt + completion`` whatever the model kind
    (chat policies open a code block holding the prompt and continue inside it)."""

    name: str = "policy"

    def prompt_for(self, problem: Problem) -> str:
        """The exact text the model continues for this problem."""
        return problem.prompt

    def default_stop(self, problem: Problem) -> list[str]:
        return []

    @abstractmethod
    def generate(
        self,
        prompts: Sequence[str],
        n: int = 1,
        temperature: float = 0.0,
        top_p: float = 1.0,
        max_new_tokens: int = 256,
        stop: Sequence[str] | None = None,
        seed: int | None = None,
        return_logprobs: bool = False,
    ) -> list[list[Completion]]:
        """``n`` completions for each prompt, as ``result[prompt_index][sample_index]``."""

    def complete(self, problems: Sequence[Problem], n: int = 1, **kwargs) -> list[list[Completion]]:
        """``n`` completions of each problem (the problem-level entry point; an oracle overrides it)."""
        stop = kwargs.pop("stop", None)
        if stop is None and problems:
            stop = self.default_stop(problems[0])
        return self.generate([self.prompt_for(p) for p in problems], n=n, stop=stop, **kwargs)
