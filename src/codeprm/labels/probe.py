"""Probing prefixes: K policy rollouts from a prefix, each judged in the sandbox, all cached.

``Judge`` turns programs into verdicts (retrying sandbox infra errors once; an infra error is never a
fail). ``Prober`` answers "can the policy still complete this prefix into a passing program?" by sampling
K continuations of ``policy.prompt_for(problem) + prefix`` that start a new line and judging
``prefix + continuation``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Sequence

from codeprm.labels.cache import ProbeCache, Verdict, content_key
from codeprm.problems import Problem
from codeprm.programs import judged_completion, program_text


def derive_seed(base_seed: int, *parts: str) -> int:
    """A sampling seed fixed by content (problem id, prefix, purpose), so every method that probes the
    same prefix sees the same rollouts, and a resumed run sees what the killed one saw."""
    digest = hashlib.sha256("\0".join([str(base_seed), *parts]).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def clean_completion(problem: Problem, completion: str) -> str:
    """Cut a completion-style continuation that runs past the function (the program rule of
    ``codeprm.programs``), so text after the function neither runs nor gets labeled."""
    return judged_completion(problem, completion)


def judged_text(problem: Problem, completion: str, keep: str = "") -> str:
    """The part of a completion that runs, with ``keep`` (a probed prefix) never cut into."""
    return judged_completion(problem, completion, keep)


def program_for(problem: Problem, completion: str, keep: str = "") -> str:
    """The program that runs for a completion: ``codeprm.programs.program_text``."""
    return program_text(problem, completion, keep)


class Judge:
    """Verdicts of programs, cached by content; sandbox infra errors are retried once and then reported
    as unknown (``None``), never as a fail."""

    def __init__(self, sandbox: Any, cache: ProbeCache) -> None:
        self.sandbox = sandbox
        self.cache = cache
        self.fresh_runs = 0  # programs the sandbox actually ran
        self.infra_unknown = 0  # programs whose verdict stayed unknown after the retry
        self._fingerprints: dict[int, tuple[Problem, str]] = {}  # holds the problem, so its id is never reused

    def _fingerprint(self, problem: Problem) -> str:
        """Verdicts are keyed by the whole problem (tests, limits), not just its id."""
        key = id(problem)
        if key not in self._fingerprints:
            self._fingerprints[key] = (problem, content_key("problem", problem.model_dump(mode="json")))
        return self._fingerprints[key][1]

    def verdicts(self, problem: Problem, programs: Sequence[str]) -> list[Verdict | None]:
        fp = self._fingerprint(problem)
        keys = [content_key("verdict", fp, program) for program in programs]
        out: list[Verdict | None] = [self.cache.get_verdict(k) for k in keys]
        first_of: dict[str, int] = {}  # identical programs (common at low temperature) run once
        for i, key in enumerate(keys):
            first_of.setdefault(key, i)
        todo = [i for i, v in enumerate(out) if v is None and first_of[keys[i]] == i]
        for attempt in range(2):  # first run, then one retry of infra errors
            if not todo:
                break
            results = self.sandbox.run_many([(programs[i], problem) for i in todo])
            self.fresh_runs += len(todo)
            retry = []
            for i, result in zip(todo, results):
                if result.infra_error:
                    retry.append(i)
                    continue
                out[i] = Verdict(passed=result.passed, status=result.status)
                self.cache.put_verdict(keys[i], out[i])
            todo = retry
        self.infra_unknown += len(todo)
        return [out[first_of[key]] for key in keys]


@dataclass(frozen=True)
class Sampling:
    k: int
    temperature: float
    top_p: float
    max_new_tokens: int
    seed: int


@dataclass
class ProbeOutcome:
    passes: int  # rollouts whose program passed
    known: int  # rollouts with a verdict (k minus infra-unknown ones)
    k: int
    fresh_rollouts: int  # rollouts actually generated (0 when the probe came from the cache)

    @property
    def unknown(self) -> bool:
        """No rollout passed and some verdicts are missing: f cannot be decided."""
        return self.passes == 0 and self.known < self.k

    @property
    def fraction(self) -> float:
        return self.passes / self.known if self.known else 0.0


PROBE_VERSION = "line-end-v2"  # what a probe's context is; see prefix_text and Policy.continue_lines


class Prober:
    """f(prefix) from K cached rollouts of a policy.

    The empty prefix is the policy's own problem (plain generation, as the responses were sampled). A
    non-empty prefix ends at the end of a line without its newline, and the K rollouts are
    ``policy.continue_lines``: continuations that start a new line (token-healed for transformers
    policies), never a context ending in a bare newline."""

    def __init__(self, policy: Any, policy_id: str, judge: Judge, cache: ProbeCache, sampling: Sampling) -> None:
        if sampling.k < 1:
            raise ValueError("K must be at least 1")
        self.policy = policy
        self.policy_id = policy_id
        self.judge = judge
        self.cache = cache
        self.sampling = sampling

    def _key(self, problem: Problem, prefix: str) -> tuple[str, str, int, list[str]]:
        s = self.sampling
        prompt = self.policy.prompt_for(problem) + prefix
        stop = list(self.policy.default_stop(problem))
        seed = derive_seed(s.seed, "rollout", problem.id, prefix)
        key = content_key("rollout", PROBE_VERSION, self.policy_id, prompt, s.k, s.temperature, s.top_p, s.max_new_tokens, stop, seed)
        return key, prompt, seed, stop

    def prefetch(self, problem: Problem, prefixes: list[str]) -> int:
        """Generate the rollouts of every uncached non-empty prefix in one batched call (each prefix keeps
        its own seed, so the samples are those a probe of it alone would draw); returns how many."""
        todo = {}
        for prefix in prefixes:
            if prefix:
                key, prompt, seed, stop = self._key(problem, prefix)
                if key not in todo and self.cache.get_rollouts(key) is None:
                    todo[key] = (prompt, seed)
        if not todo:
            return 0
        s = self.sampling
        batches = self.policy.continue_lines([p for p, _ in todo.values()], n=s.k, temperature=s.temperature, top_p=s.top_p,
                                             max_new_tokens=s.max_new_tokens, stop=stop, seed=[sd for _, sd in todo.values()])
        for key, completions in zip(todo, batches):
            self.cache.put_rollouts(key, [None if c.meta.get("new_line") is False else c.text for c in completions])
        return s.k * len(todo)

    def rollouts(self, problem: Problem, prefix: str) -> tuple[list[str | None], int]:
        """K continuations of ``prompt_for(problem) + prefix`` (None: a sample that did not start a new
        line, from a backend that can only reject) and how many were freshly generated."""
        s = self.sampling
        key, prompt, seed, stop = self._key(problem, prefix)
        texts = self.cache.get_rollouts(key)
        if texts is not None:
            return texts, 0
        kwargs = dict(n=s.k, temperature=s.temperature, top_p=s.top_p, max_new_tokens=s.max_new_tokens, stop=stop, seed=seed)
        if prefix:
            completions = self.policy.continue_lines([prompt], **kwargs)[0]
        else:
            completions = self.policy.generate([prompt], **kwargs)[0]
        texts = [None if c.meta.get("new_line") is False else c.text for c in completions]
        self.cache.put_rollouts(key, texts)
        return texts, len(texts)

    def probe(self, problem: Problem, prefix: str) -> ProbeOutcome:
        texts, fresh = self.rollouts(problem, prefix)
        usable = [t for t in texts if t is not None]
        verdicts = self.judge.verdicts(problem, [program_for(problem, prefix + text, keep=prefix) for text in usable])
        return ProbeOutcome(passes=sum(bool(v and v.passed) for v in verdicts), known=sum(v is not None for v in verdicts),
                            k=len(texts), fresh_rollouts=fresh)
