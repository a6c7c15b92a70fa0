"""Fresh problems for every RL step: a seeded stream of generated problems that never repeats one.

RL that samples from a fixed training set can raise its training pass rate by learning those problems
(the 131-problem experiment did exactly that while the held-out rate stayed flat). A stream draws new
problems from the generator at every step instead, so a rising training pass rate means a rising skill.

``ProblemStream("synth:train?difficulty=3-6", seed=0, exclude=heldout)``: ``draw(step, count)`` returns
``count`` problems that depend only on ``(seed, step)``; none has the prompt of an excluded (held-out)
problem or of a problem drawn at an earlier step of the same stream. ``replay(steps)`` rebuilds the
record of what was drawn, so a resumed run keeps the guarantee.
"""

from __future__ import annotations

import hashlib
from typing import Iterable

from codeprm.errors import CodeprmError
from codeprm.problems.model import Problem

# Stream seeds live far above the small seeds held-out suites are drawn with, so a stream never replays
# a held-out suite's random draws (the prompt check below would catch a repeat anyway).
_SEED_BASE = 10_000_000
_SEED_STRIDE = 100_000  # steps per stream seed before two streams' draws could share a generator seed


def _key(problem: Problem) -> str:
    return hashlib.sha256(problem.prompt.encode()).hexdigest()


class ProblemStream:
    """New generated problems at every step; see the module docstring."""

    def __init__(self, spec: str, seed: int = 0, exclude: Iterable[Problem] = ()):
        name, _, options = spec.partition(":")
        if name != "synth":
            raise CodeprmError(f"problem stream '{spec}': only generated suites can stream (synth:SPLIT?difficulty=A-B)")
        split, _, query = options.partition("?")
        from codeprm.problems.synth import _parse_options

        self.split, self.options = _parse_options(f"{split}?{query}" if query else split)
        if "size" in self.options or "seed" in self.options:
            raise CodeprmError(f"problem stream '{spec}': size and seed are set by the stream (count per step, the run's seed)")
        self.spec, self.seed = spec, seed
        self.excluded = {_key(p) for p in exclude}
        self.seen: set[str] = set()
        self.rejected = 0  # draws skipped because the prompt was excluded or seen before

    def _generate(self, step: int, size: int) -> list[Problem]:
        from codeprm.problems.synth import load_synth

        gen_seed = _SEED_BASE + self.seed * _SEED_STRIDE + step
        query = "&".join([f"size={size}", f"seed={gen_seed}"] + [f"{k}={v}" for k, v in self.options.items()])
        return load_synth(f"{self.split}?{query}")

    def draw(self, step: int, count: int) -> list[Problem]:
        if step >= _SEED_STRIDE:
            raise CodeprmError(f"problem stream: step {step} is past the stream's {_SEED_STRIDE} steps")
        size = count
        while True:
            fresh, skipped = [], 0
            for p in self._generate(step, size):
                key = _key(p)
                if key in self.excluded or key in self.seen or any(_key(q) == key for q in fresh):
                    skipped += 1
                    continue
                fresh.append(p)
                if len(fresh) == count:
                    break
            if len(fresh) == count:
                break
            size += count  # a larger draw from the same seed extends the same sequence
        self.rejected += skipped
        self.seen.update(_key(p) for p in fresh)
        return [p.model_copy(update={"id": f"stream/{self.seed}/{step}/{i}"}) for i, p in enumerate(fresh)]

    def replay(self, steps: int, count: int) -> None:
        """Redraw steps ``0..steps-1`` (what a resumed run had already seen)."""
        for step in range(steps):
            self.draw(step, count)
