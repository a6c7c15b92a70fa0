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


def starts_new_line(text: str) -> bool:
    """A continuation of a line-ending context that leaves the line alone: it begins with a newline
    (after optional trailing blanks) or is empty (the program ends there)."""
    return text.lstrip(" \t")[:1] in ("", "\n")


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

    def continue_lines(
        self,
        contexts: Sequence[str],
        n: int = 1,
        temperature: float = 0.0,
        top_p: float = 1.0,
        max_new_tokens: int = 256,
        stop: Sequence[str] | None = None,
        seed: int | Sequence[int] | None = None,
        rounds: int = 4,
    ) -> list[list[Completion]]:
        """``n`` continuations of each context, which ends at the end of a line *without* its newline;
        every continuation starts a new line (its text begins with ``"\n"``) or is empty (the program
        ends after that line). See ``codeprm.policy.heal`` for why the context must not end in "\n".

        This default samples from the policy and keeps the samples that start a new line (rejection
        sampling: the exact conditional distribution), resampling the others up to ``rounds`` times; a
        sample that never did comes back with ``meta["new_line"] = False`` and the caller must not judge
        it as a continuation of the prefix. Token-level backends (``HFPolicy``) override this with token
        healing, which needs no rejection. A list of seeds gives each context its own (the samples a
        one-context call with that seed would give)."""
        if isinstance(seed, (list, tuple)):
            return [self.continue_lines([c], n, temperature, top_p, max_new_tokens, stop, s, rounds)[0] for c, s in zip(contexts, seed)]
        out: list[list[Completion | None]] = [[None] * n for _ in contexts]
        for r in range(max(1, rounds)):
            todo = [(p, i) for p in range(len(contexts)) for i in range(n) if out[p][i] is None]
            if not todo:
                break
            round_seed = None if seed is None else seed + 7919 * r
            counts: dict[int, int] = {}
            for p, _ in todo:
                counts[p] = counts.get(p, 0) + 1
            ps = sorted(counts)
            batches = self.generate([contexts[p] for p in ps], n=max(counts.values()), temperature=temperature, top_p=top_p,
                                    max_new_tokens=max_new_tokens, stop=stop, seed=round_seed)
            for p, samples in zip(ps, batches):
                free = [i for i in range(n) if out[p][i] is None]
                for i, c in zip(free, [c for c in samples if starts_new_line(c.text)]):
                    out[p][i] = c
        for p in range(len(contexts)):
            for i in range(n):
                if out[p][i] is None:
                    out[p][i] = Completion(text="", finish_reason="stop", meta={"new_line": False})
        return out  # type: ignore[return-value]

    def complete(self, problems: Sequence[Problem], n: int = 1, **kwargs) -> list[list[Completion]]:
        """``n`` completions of each problem (the problem-level entry point; an oracle overrides it)."""
        stop = kwargs.pop("stop", None)
        if stop is None and problems:
            stop = self.default_stop(problems[0])
        return self.generate([self.prompt_for(p) for p in problems], n=n, stop=stop, **kwargs)
