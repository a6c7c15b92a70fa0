"""Any file in HumanEval's layout: ``humaneval:PATH``.

Many benchmarks ship in HumanEval's layout (``task_id``, ``prompt``, ``entry_point``,
``canonical_solution``, ``test`` holding ``def check(candidate)``): MBPP as CodeT shipped it, HumanEval-X
Python, MultiPL-E's Python source. ``humaneval`` alone and ``humaneval:0-9,42`` still select from the
wheel's 164 problems (:mod:`codeprm.problems.humaneval`); anything else after the colon is a path to a
``.jsonl`` (optionally ``.gz``) or ``.json`` file.

Tests are converted as for HumanEval: asserts calling the entry point (as ``candidate`` or by its own
name, as MBPP's do) with literal arguments become trusted call tests, the rest assert tests.

The reference is data, and in MBPP's copy it is indented with two spaces under a prompt indented with
four, which Python rejects; such a reference is re-indented to the prompt's indentation (the text of
each line is kept). Entry-point names are stripped of spaces, and standard-library modules the tests
use without importing them are imported in ``test_setup``. Call tests compare numbers as the asserts'
Python ``==`` did (``float_tolerance=0``: ``240 == 240.0``; the sandbox is strict otherwise). Problems are ``completion`` style: the program is ``prompt + completion``.
"""

from __future__ import annotations

import ast
import logging
import re
import sys
import warnings
from pathlib import Path
from typing import Any

from codeprm.errors import CodeprmError
from codeprm.problems.asserts import convert_statements, segment
from codeprm.problems.humaneval import load_humaneval
from codeprm.problems.jsonl import read_json_rows
from codeprm.problems.model import Problem

log = logging.getLogger(__name__)

_SELECTION = re.compile(r"^[\d\s,\-]*$")
_FIELDS = ("task_id", "prompt", "entry_point", "test")


def load_humaneval_source(arg: str = "") -> list[Problem]:
    """``humaneval`` / ``humaneval:SELECTION`` from the wheel, ``humaneval:PATH`` from a file."""
    if _SELECTION.match(arg) and not Path(arg).is_file():
        return load_humaneval(arg)
    return load_humaneval_file(arg)


def load_humaneval_file(arg: str) -> list[Problem]:
    """Problems of a file in HumanEval's layout; a row that cannot be converted is skipped with a warning
    naming it and why."""
    path = Path(arg).expanduser()
    if not path.is_file():
        raise CodeprmError(f"humaneval: no such file: {path} (use humaneval:PATH, or humaneval:0-9,42 for a selection)")
    problems = []
    for i, row in enumerate(read_json_rows(path)):
        where = f"{path}: row {i}" + (f" ({row.get('task_id')})" if isinstance(row, dict) and row.get("task_id") else "")
        try:
            problems.append(layout_problem(row, where, source=path.stem))
        except CodeprmError as exc:
            log.warning("skipped %s", exc)
    return problems


def layout_problem(row: Any, where: str, source: str = "humaneval-layout") -> Problem:
    """One row in HumanEval's layout as a completion-style Problem."""
    if not isinstance(row, dict):
        raise CodeprmError(f"{where}: a row must be a JSON object")
    missing = [f for f in _FIELDS if not isinstance(row.get(f), str) or not row[f].strip()]
    if missing:
        raise CodeprmError(f"{where}: missing or empty field '{missing[0]}'")
    prompt, entry, test_src = row["prompt"], row["entry_point"].strip(), row["test"]
    try:
        tree = ast.parse(test_src)
    except SyntaxError as exc:
        raise CodeprmError(f"{where}: field 'test' does not parse (line {exc.lineno}: {exc.msg})") from None
    checks = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "check"]
    if len(checks) != 1:
        raise CodeprmError(f"{where}: expected one 'def check(candidate)' in field 'test'")
    check = checks[0]
    param = check.args.args[0].arg if check.args.args else "candidate"
    if param != "candidate":
        raise CodeprmError(f"{where}: check's parameter is '{param}', expected 'candidate'")
    tests = convert_statements(test_src, check.body, {param, entry}).tests
    if not tests:
        raise CodeprmError(f"{where}: check(candidate) holds no assert")
    used = {n.id for n in ast.walk(check) if isinstance(n, ast.Name)}
    setup = [segment(test_src, n) for n in tree.body
             if n is not check and not (_assigns(n, "METADATA") and "METADATA" not in used)]
    setup = [f"import {name}" for name in unbound_modules(tree)] + setup
    reference = row.get("canonical_solution")
    return Problem(
        id=str(row["task_id"]),
        prompt=prompt,
        entry_point=entry,
        tests=tests,
        reference=fit_reference(prompt, reference) if isinstance(reference, str) else None,
        test_setup="\n".join(setup),
        style="completion",
        source=source,
        float_tolerance=0.0,  # the tests were Python `==` asserts: 240 == 240.0, as the benchmark judged
    )


def fit_reference(prompt: str, body: str) -> str:
    """``body`` re-indented to the prompt's function body when ``prompt + body`` does not compile only
    because of indentation (MBPP's two-space or tab-indented references under a four-space docstring).
    Leading tabs become four spaces; the lines up to the first statement at column 0 (a helper defined
    after the function) move to the prompt's indentation, keeping their relative indentation."""
    try:
        _compile(prompt + body)
        return body
    except (IndentationError, TabError):
        pass
    except SyntaxError:
        return body
    indent = _body_indent(prompt)
    if indent is None:
        return body
    lines = [_expand_leading_tabs(line) for line in body.splitlines(keepends=True)]
    end = next((i for i, line in enumerate(lines) if _is_code(line) and not line[0].isspace()), len(lines))
    block = lines[:end]
    base = min((len(line) - len(line.lstrip()) for line in block if _is_code(line)), default=0)
    fitted = []
    for line in block:
        if not line.strip():
            fitted.append(line)
        else:
            own = len(line) - len(line.lstrip())
            fitted.append(indent + (line[base:] if own >= base else line.lstrip()))
    text = "".join(fitted + lines[end:])
    try:
        _compile(prompt + text)
    except SyntaxError:
        return body
    return text


def _compile(source: str) -> None:
    with warnings.catch_warnings():  # the data's own invalid escapes are not ours to report
        warnings.simplefilter("ignore")
        compile(source, "<reference>", "exec")


def _is_code(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _expand_leading_tabs(line: str) -> str:
    lead = line[: len(line) - len(line.lstrip(" \t"))]
    return lead.replace("\t", "    ") + line[len(lead):]


def _body_indent(prompt: str) -> str | None:
    """Indentation of the last non-blank line of the prompt (the docstring of the function to complete)."""
    for line in reversed(prompt.splitlines()):
        if line.strip():
            return line[: len(line) - len(line.lstrip())] or None
    return None


def unbound_modules(tree: ast.Module) -> list[str]:
    """Standard-library modules the test code uses without importing them (MBPP's asserts use ``math``
    and ``re``; its ``test_imports`` were lost when CodeT converted it), so ``test_setup`` imports them."""
    bound = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    loaded = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return sorted(name for name in loaded - bound if name in sys.stdlib_module_names)


def _assigns(node: ast.stmt, name: str) -> bool:
    return isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)


def codet_humaneval_samples(path: str | Path) -> list[tuple[Problem, list[str]]]:
    """The rows of a CodeT-layout samples file for HumanEval (``{"prompt", "samples": [...]}``, one row per
    problem in lexicographic task-id order, as in ``../shared/data``), each with its HumanEval problem.
    A row whose prompt defines another entry point than its problem's is refused, naming both."""
    path = Path(path)
    if not path.is_file():
        raise CodeprmError(f"samples file not found: {path} (see ../shared/data/README.md)")
    rows = read_json_rows(path)
    problems = sorted(load_humaneval(""), key=lambda p: p.id)  # the file's (lexicographic) order
    if len(rows) != len(problems):
        raise CodeprmError(f"{path}: {len(rows)} rows, expected one per HumanEval problem ({len(problems)})")
    out = []
    for problem, row in zip(problems, rows):
        names = re.findall(r"^def (\w+)", row.get("prompt", ""), flags=re.M)
        if not names or names[-1] != problem.entry_point:
            raise CodeprmError(f"{path}: row for {problem.id} defines {names[-1:] or 'nothing'}, expected {problem.entry_point}")
        out.append((problem, list(row["samples"])))
    return out
