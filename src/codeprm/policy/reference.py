"""The oracle policy: answers every problem with its reference solution.

It validates benchmarks and the executor: ``codeprm eval --policy reference`` must pass every problem,
so a failure there is a loader or sandbox bug, not model noise."""

from __future__ import annotations

from typing import Sequence

from codeprm.errors import CodeprmError
from codeprm.policy.base import Completion, Policy
from codeprm.problems import Problem


class ReferencePolicy(Policy):
    name = "reference"

    def generate(self, prompts: Sequence[str], n: int = 1, **kwargs) -> list[list[Completion]]:
        raise CodeprmError("the reference policy answers problems, not raw prompts: use complete(problems)")

    def complete(self, problems: Sequence[Problem], n: int = 1, **kwargs) -> list[list[Completion]]:
        """``problem.reference`` ``n`` times per problem; sampling settings are ignored (it is exact)."""
        missing = [p.id for p in problems if p.reference is None]
        if missing:
            more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
            raise CodeprmError(f"problem {missing[0]}{more} has no reference solution, so the reference policy cannot answer it")
        return [[Completion(text=p.reference, finish_reason="stop") for _ in range(n)] for p in problems]
