"""Plausible tests: ``assert f(...) == ...`` lines a model wrote, as (input, claimed output) call tests.

They are model output, never ground truth: the claimed output may be wrong, and they run untrusted in
the sandbox like any program. CodeT asked the model to continue ``assert `` after a stub of the
function, so a generation is the text after that ``assert `` and holds one or more further
``assert`` lines, the last one often cut off by the token budget.

Only asserts of the form ``f(<literals>) == <literal>`` (either side, ``f`` the entry point, an optional
message) become tests; any other assert, and a statement that does not parse, is counted and dropped.
Identical tests are kept once (types matter: ``1``, ``1.0`` and ``True`` are three claims).
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field

from codeprm.problems.asserts import call_test
from codeprm.problems.model import TestCase

_ASSERT_LINE = re.compile(r"^[ \t]*assert\b", re.M)


@dataclass
class Parsed:
    """The call tests parsed from a batch of generations, and what could not be used."""

    tests: list[TestCase] = field(default_factory=list)
    asserts: int = 0  # assert statements seen
    duplicates: int = 0  # asserts whose test was already in ``tests``
    not_call: int = 0  # parsed, but not ``f(<literals>) == <literal>``
    unparsed: int = 0  # not valid Python (cut off by the token budget, prose)

    def as_dict(self) -> dict[str, int]:
        return {"tests": len(self.tests), "asserts": self.asserts, "duplicates": self.duplicates,
                "not_call": self.not_call, "unparsed": self.unparsed}


def assert_chunks(generation: str, prefixed: bool = True) -> list[str]:
    """The assert statements of one generation, each as source text starting with ``assert``.
    ``prefixed``: the generation continues an ``assert `` that ended the prompt (CodeT's layout)."""
    text = ("assert " + generation) if prefixed else generation
    starts = [m.start() for m in _ASSERT_LINE.finditer(text)]
    if prefixed and (not starts or starts[0] != 0):
        starts.insert(0, 0)
    chunks = []
    for begin, end in zip(starts, starts[1:] + [len(text)]):
        body = text[begin:end].strip()[len("assert"):].strip()
        if body:
            chunks.append("assert " + body)
    return chunks


def test_key(test: TestCase) -> str:
    """A key that tells tests apart exactly (types included)."""
    return test.model_dump_json(include={"kind", "args", "kwargs", "expected", "stdin", "stdout", "code"})


def input_key(test: TestCase) -> str:
    """A key for a call test's input alone (args and kwargs, types included)."""
    return json.dumps(json.loads(test.model_dump_json(include={"args", "kwargs"})), sort_keys=True)


def parse_generations(generations: list[str], entry_point: str, prefixed: bool = True,
                      limit_per_generation: int | None = None) -> Parsed:
    """Call tests from generated assert lines, deduplicated, in order of first appearance.
    ``limit_per_generation`` keeps only the first asserts of each generation (CodeT-style)."""
    out = Parsed()
    seen: set[str] = set()
    for generation in generations:
        chunks = assert_chunks(generation, prefixed)
        if limit_per_generation is not None:
            chunks = chunks[:limit_per_generation]
        for chunk in chunks:
            out.asserts += 1
            test = parse_assert(chunk, entry_point)
            if test is None:
                try:
                    ast.parse(chunk)
                except (SyntaxError, ValueError):
                    out.unparsed += 1
                else:
                    out.not_call += 1
                continue
            key = test_key(test)
            if key in seen:
                out.duplicates += 1
                continue
            seen.add(key)
            out.tests.append(test)
    return out


def parse_assert(source: str, entry_point: str) -> TestCase | None:
    """One ``assert f(...) == ...`` statement as a call test; None when it is anything else."""
    try:
        body = ast.parse(source).body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    if len(body) != 1 or not isinstance(body[0], ast.Assert):
        return None
    return call_test(body[0].test, {entry_point})
