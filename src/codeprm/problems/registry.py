"""``load_benchmark(name)``: one entry point for every problem source.

Names: ``humaneval``, ``jsonl:PATH``, ``mbpp:PATH``, ``apps:PATH``, ``codecontests:PATH``,
``livecodebench:PATH``, ``kodcode:PATH`` (local copies only) and ``synth:SPLIT[?key=value&...]``.
"""

from __future__ import annotations

import importlib
from typing import Callable

from codeprm.errors import CodeprmError
from codeprm.problems.model import Problem, read_jsonl

# prefix -> (module, function); the function takes the text after "prefix:" ("" when absent).
_LOADERS: dict[str, tuple[str, str]] = {
    "humaneval": ("codeprm.problems.humaneval", "load_humaneval"),
    "mbpp": ("codeprm.problems.adapters", "load_mbpp"),
    "apps": ("codeprm.problems.adapters", "load_apps"),
    "codecontests": ("codeprm.problems.adapters", "load_codecontests"),
    "livecodebench": ("codeprm.problems.adapters", "load_livecodebench"),
    "kodcode": ("codeprm.problems.adapters", "load_kodcode"),
    "synth": ("codeprm.problems.synth", "load_synth"),
}


def benchmark_names() -> list[str]:
    return ["jsonl", *_LOADERS]


def load_benchmark(name: str) -> list[Problem]:
    """Problems of a named benchmark; an unknown name or unreadable source raises CodeprmError."""
    prefix, _, arg = name.partition(":")
    if prefix == "jsonl":
        if not arg:
            raise CodeprmError("benchmark 'jsonl' needs a path: jsonl:PATH")
        return read_jsonl(arg)
    if prefix not in _LOADERS:
        raise CodeprmError(f"unknown benchmark '{name}'; known: {', '.join(benchmark_names())}")
    module, func = _LOADERS[prefix]
    loader: Callable[[str], list[Problem]] = getattr(importlib.import_module(module), func)
    problems = loader(arg)
    if not problems:
        raise CodeprmError(f"benchmark '{name}' has no problems")
    return problems
