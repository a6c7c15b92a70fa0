"""``load_benchmark(name)``: one entry point for every problem source.

Names: ``humaneval`` (or ``humaneval:PATH``, any file in HumanEval's layout), ``jsonl:PATH``, ``mbpp:PATH``, ``apps:PATH``, ``codecontests:PATH``,
``livecodebench:PATH``, ``kodcode:PATH`` (local copies only), ``humaneval-x:LANGUAGE[=PATH]`` and ``synth:SPLIT[?key=value&...]``.
"""

from __future__ import annotations

import importlib
from typing import Callable

from codeprm.errors import CodeprmError
from codeprm.problems.model import Problem, read_jsonl

# prefix -> (module, function); the function takes the text after "prefix:" ("" when absent).
_LOADERS: dict[str, tuple[str, str]] = {
    "humaneval": ("codeprm.problems.humaneval_layout", "load_humaneval_source"),  # also humaneval:PATH
    "mbpp": ("codeprm.problems.mbpp", "load_mbpp"),
    "apps": ("codeprm.problems.apps", "load_apps"),
    "codecontests": ("codeprm.problems.codecontests", "load_codecontests"),
    "livecodebench": ("codeprm.problems.livecodebench", "load_livecodebench"),
    "kodcode": ("codeprm.problems.kodcode", "load_kodcode"),
    "synth": ("codeprm.problems.synth", "load_synth"),
    "humaneval-x": ("codeprm.problems.humaneval_x", "load_source"),  # humaneval-x:cpp (or cpp=PATH)
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
    if prefix == "synth" and arg.partition("?")[0] == "long":  # the long suite (16-40 lines)
        module, func = "codeprm.problems.synth_long", "load_long_suite"
    else:
        module, func = _LOADERS[prefix]
    loader: Callable[[str], list[Problem]] = getattr(importlib.import_module(module), func)
    problems = loader(arg)
    if not problems:
        raise CodeprmError(f"benchmark '{name}' has no problems")
    return problems
