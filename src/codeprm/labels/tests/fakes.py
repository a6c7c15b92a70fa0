"""Test doubles for the labels tests: a few small problems with one known bug each, and a fast
deterministic policy that continues any prefix of the reference (or of the buggy version) with the
rest of it. With this policy f(m) = 1 exactly while the prefix still agrees with the reference, so the
first error the search must find is the bug line."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Sequence

from codeprm.labels.lines import split_lines
from codeprm.policy.base import Completion, Policy
from codeprm.problems import Problem, TestCase


@dataclass(frozen=True)
class Spec:
    problem: Problem
    buggy: str  # the reference with one line broken
    bug_line: int  # 0-based completion line of the bug


def _spec(pid: str, prompt: str, reference: str, bug_from: str, bug_to: str, tests: list[TestCase], entry: str) -> Spec:
    assert reference.count(bug_from) == 1
    buggy = reference.replace(bug_from, bug_to)
    bug_line = next(i for i, (a, b) in enumerate(zip(split_lines(reference), split_lines(buggy))) if a != b)
    problem = Problem(id=pid, prompt=prompt, entry_point=entry, tests=tests, reference=reference, source="labels-test")
    return Spec(problem, buggy, bug_line)


SPECS = [
    _spec("t/sum_positive", 'def sum_positive(xs):\n    """Sum of the positive numbers in xs."""\n',
          "    total = 0\n    for x in xs:\n        # negatives do not count\n        if x > 0:\n            total += x\n\n    return total\n",
          "if x > 0:", "if x < 0:",
          [TestCase.call([[1, -2, 3]], expected=4), TestCase.call([[]], expected=0), TestCase.call([[-1]], expected=0)],
          "sum_positive"),
    _spec("t/count_upper", 'def count_upper(s):\n    """How many upper-case letters s has."""\n',
          "    n = 0\n    for ch in s:\n        if ch.isupper():\n            n += 1\n    return n\n",
          "n += 1", "n += 2",
          [TestCase.call(["aBcD"], expected=2), TestCase.call([""], expected=0)], "count_upper"),
    _spec("t/longest_run", 'def longest_run(xs):\n    """Length of the longest run of equal adjacent items."""\n',
          "    if not xs:\n        return 0\n    best = 1\n    run = 1\n    for a, b in zip(xs, xs[1:]):\n"
          "        if a == b:\n            run += 1\n        else:\n            run = 1\n        best = max(best, run)\n    return best\n",
          "best = max(best, run)", "best = min(best, run)",
          [TestCase.call([[1, 1, 2, 2, 2]], expected=3), TestCase.call([[]], expected=0), TestCase.call([[5]], expected=1)],
          "longest_run"),
]
PROBLEMS = [s.problem for s in SPECS]


class FakePolicy(Policy):
    """Continues prompt + prefix with the rest of the reference when the prefix agrees with it, else
    with the rest of the buggy version. From the empty prefix each sample is the reference or the buggy
    version at random (seeded), so some responses fail and some rollouts from scratch pass."""

    name = "fake"

    def __init__(self, specs: Sequence[Spec] = SPECS, p_bug: float = 0.5, delay_s: float = 0.0) -> None:
        self.specs = list(specs)
        self.p_bug = p_bug
        self.delay_s = delay_s
        self.calls = 0

    def _spec_for(self, prompt: str) -> Spec:
        return max((s for s in self.specs if prompt.startswith(s.problem.prompt)), key=lambda s: len(s.problem.prompt))

    def generate(self, prompts, n=1, temperature=0.0, top_p=1.0, max_new_tokens=256, stop=None, seed=None, return_logprobs=False):
        self.calls += 1
        if self.delay_s:
            time.sleep(self.delay_s)
        out = []
        for p_index, prompt in enumerate(prompts):
            spec = self._spec_for(prompt)
            prefix = prompt[len(spec.problem.prompt):]
            rng = random.Random(f"{seed}/{p_index}")
            samples = []
            for _ in range(n):
                if not prefix:
                    text = spec.buggy if rng.random() < self.p_bug else spec.problem.reference
                elif spec.problem.reference.startswith(prefix):
                    text = spec.problem.reference[len(prefix):]
                elif spec.buggy.startswith(prefix):
                    text = spec.buggy[len(prefix):]
                else:
                    text = "\n    return None\n"
                samples.append(Completion(text=text))
            out.append(samples)
        return out
