"""APPS from a local copy: ``apps:PATH``.

Call tests compare with ``==`` like APPS's harness; APPS stores a call's return value wrapped in a
one-element list, which we unwrap. LeetCode-style starter code (``class Solution``) gets a ``test_setup``
that calls ``Solution().<name>`` on a fresh instance.
"""

from __future__ import annotations

from typing import Any

from codeprm.errors import CodeprmError
from codeprm.problems.local import field, json_field, load_rows, normalise, solution_shim, stdio_text
from codeprm.problems.model import Problem, TestCase

def load_apps(arg: str) -> list[Problem]:
    """APPS (``problem_id``, ``question``, ``solutions`` and ``input_output`` as JSON strings,
    ``starter_code``): ``fn_name`` in input_output gives call tests, else stdio tests."""
    return load_rows(arg, "apps", apps_problem)


def apps_problem(row: dict[str, Any], where: str) -> Problem | None:
    question = field(row, "question", where=where)
    io_spec = json_field(row.get("input_output"), where, "input_output")
    if not io_spec or not io_spec.get("inputs"):
        return None
    solutions = json_field(row.get("solutions"), where, "solutions") or []
    starter = row.get("starter_code") or ""
    inputs, outputs = io_spec["inputs"], io_spec.get("outputs", [])
    if len(inputs) != len(outputs):
        raise CodeprmError(f"{where}: input_output has {len(inputs)} inputs but {len(outputs)} outputs")
    fn_name = io_spec.get("fn_name")
    if fn_name:
        tests = [TestCase.call(args=_as_args(i), expected=_unwrap(o)) for i, o in zip(inputs, outputs)]
        instruction = f"Use call-based format: complete the function `{fn_name}`.\n\n{starter}".rstrip() + "\n"
    else:
        tests = [TestCase.stdio(stdin=stdio_text(i), stdout=stdio_text(o)) for i, o in zip(inputs, outputs)]
        instruction = "Use standard input format: read from stdin and print the answer to stdout.\n"
    return Problem(
        id=f"apps/{row.get('problem_id', where)}",
        prompt=f"{question.strip()}\n\n{instruction}",
        entry_point=fn_name or None,
        tests=tests,
        reference=normalise(solutions[0]) if solutions else None,
        test_setup=solution_shim(starter, fn_name) if fn_name else "",
        style="instruct",
        source="apps",
    )


def _as_args(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _unwrap(value: Any) -> Any:
    # APPS stores a call's return value wrapped in a one-element list.
    return value[0] if isinstance(value, list) and len(value) == 1 else value
