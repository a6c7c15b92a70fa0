"""HumanEval-X (``../shared/data/humaneval-x/``): the 164 HumanEval problems in C++ and more.

Each problem is completion style in its language: the program is ``prompt + completion`` and its one
test is HumanEval-X's ``test`` (a ``main`` of asserts) as a whole-program test, compiled with the
program; the exit status decides (``codeprm.sandbox.native``; ``trusted=False``, as Python asserts).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from codeprm.errors import CodeprmError
from codeprm.problems.model import Problem, TestCase

DATA = Path(__file__).resolve().parents[4] / "shared" / "data" / "humaneval-x"
# HumanEval-X's file names -> SandboxFusion's language names
FILES = {"cpp": "humaneval_cpp.jsonl.gz", "java": "humaneval_java.jsonl.gz"}


def load(language: str = "cpp", path: str | Path | None = None, example_tests: bool = False) -> list[Problem]:
    """The problems of one language (``cpp``, ``java``); ``example_tests`` uses the docstring examples' harness."""
    if language not in FILES:
        raise CodeprmError(f"HumanEval-X in {language!r} is not supported here (supported: {', '.join(FILES)})")
    path = Path(path) if path is not None else DATA / FILES[language]
    if not path.is_file():
        raise CodeprmError(f"HumanEval-X file not found: {path} (see ../shared/data/humaneval-x/README.md)")
    problems = []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            harness = row["example_test"] if example_tests else row["test"]
            problems.append(Problem(id=row["task_id"], prompt=row["prompt"], reference=row["canonical_solution"],
                                    tests=[TestCase.assert_(harness)], language=language, time_limit_s=10.0,
                                    source="humaneval-x"))
    return problems


def load_source(arg: str) -> list[Problem]:
    """``load_benchmark("humaneval-x:cpp")`` (or ``humaneval-x:cpp=PATH`` for a copy elsewhere)."""
    language, _, path = (arg or "cpp").partition("=")
    return load(language, path or None)
