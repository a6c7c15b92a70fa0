"""Completion-style continuations: ``truncate_completion`` cuts a continuation where the function ends
and the model starts writing something else (example calls, a ``__main__`` block, the prompt again,
prose). It reads the code with ``ast`` and shares its notion of a demo with ``extract``.
"""

from __future__ import annotations

import ast
import re

from codeprm.problems.extract import (_PARSE_ERRORS, _first_line, _imported_names, _is_python_block, _parses,
                                      _top_level_names, extract_code, fenced_blocks, keeps)


def truncate_completion(prompt: str, completion: str, entry_point: str | None = None) -> str:
    """``completion`` cut where it stops continuing ``prompt``'s function: at the first new top-level
    statement that is not a definition, import or constant (a print, example call, assert,
    ``if __name__`` block), at a redefinition of something the prompt defines (the prompt repeated), at
    test code (``def check``/``def test_*`` nothing calls), or before trailing text that does not parse.
    Helper functions after the body are kept. The result is a prefix of ``completion`` (minus trailing
    blank lines), so the token ids of a sampled completion can be cut to match; the one exception is a
    chat answer in markdown fences, which goes through :func:`extract_code` instead."""
    if not _parses(prompt + completion) and any(_is_python_block(b) for b in fenced_blocks(completion)):
        # a chat answer with markdown fences where a continuation was expected: no prefix to cut
        return extract_code(completion, entry_point, prompt)
    original = completion
    lines = completion.splitlines(keepends=True)
    program = None
    for k in _cut_points(lines):  # the longest prefix that parses with the prompt
        candidate = "".join(lines[:k])
        try:
            tree = ast.parse(prompt + candidate)
        except _PARSE_ERRORS:
            continue
        program, completion = prompt + candidate, candidate
        break
    if program is None:
        return completion  # the prompt itself does not parse; nothing sound to cut
    prompt_defs = _prompt_definitions(prompt) | ({entry_point} if entry_point else set())
    first_new = prompt.count("\n") + (1 if prompt.endswith("\n") or not prompt else 2)
    local = _top_level_names(tree) - _imported_names(tree)
    cut_line = None
    new_stmts = [s for s in tree.body if _first_line(s) >= first_new]
    # A model that writes no body but restates the prompt's function (common for chat models given a
    # bare code prompt) gets its restatement kept: the later definition is the one that runs.
    restating = bool(new_stmts) and not _has_code(program, len(prompt), new_stmts[0])
    for stmt in new_stmts:
        is_def = isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        redefines = is_def and stmt.name in prompt_defs
        if redefines and restating:
            restating = stmt.name != entry_point and entry_point is not None
            continue
        # `def check(candidate)` / `def test_add()` after the body is test code, not a helper
        test_code = is_def and (stmt.name == "check" or stmt.name.startswith("test")) and stmt.name not in _names_used_before(tree, stmt)
        if redefines or test_code or not keeps(stmt, local):
            cut_line = _first_line(stmt)
            break
    if cut_line is None:
        return original if completion == original else _rstrip_lines(completion)
    program_lines = program.splitlines(keepends=True)
    prompt_lines = {line.strip() for line in prompt.splitlines() if line.strip()}
    # drop what leads into the cut statement: blank lines, top-level comments, and the prompt's own
    # imports when the cut is the prompt starting over
    while cut_line - 2 >= first_new - 1:
        prev = program_lines[cut_line - 2]
        if prev.strip() and not prev.startswith("#") and not (prev.startswith(("import ", "from ")) and prev.strip() in prompt_lines):
            break
        cut_line -= 1
    return _rstrip_lines("".join(program_lines[: cut_line - 1])[len(prompt) :])


def _has_code(program: str, start: int, stmt: ast.stmt) -> bool:
    """Whether ``program[start:]`` has code before the line where ``stmt`` starts."""
    lines = program.splitlines(keepends=True)
    stmt_offset = sum(len(line) for line in lines[: _first_line(stmt) - 1])
    head = program[start:stmt_offset]
    return any(line.strip() and not line.strip().startswith("#") for line in head.splitlines())


def _rstrip_lines(code: str) -> str:
    """``code`` without trailing blank lines, still a prefix of itself (RL keeps the completion's tokens,
    so a truncated completion must be a prefix of what was generated)."""
    lines = code.splitlines(keepends=True)
    while lines and not lines[-1].strip():
        lines.pop()
    return "".join(lines)


def _names_used_before(tree: ast.Module, stop: ast.stmt) -> set[str]:
    used: set[str] = set()
    for stmt in tree.body:
        if stmt is stop:
            break
        used.update(n.id for n in ast.walk(stmt) if isinstance(n, ast.Name))
    return used


def _cut_points(lines: list[str]) -> list[int]:
    """Line counts to try, longest first: all lines; without the last non-blank line (a line cut off by
    the token limit); before each line that starts at column 0 (prose or a new statement). A syntax
    error inside the body is the program's own and is never cut away."""
    last = max((i for i, line in enumerate(lines) if line.strip()), default=0)
    points = {len(lines), last} | {i for i, line in enumerate(lines) if line.strip() and not line[0].isspace()}
    return sorted(points, reverse=True)


def _prompt_definitions(prompt: str) -> set[str]:
    try:
        tree = ast.parse(prompt)
    except _PARSE_ERRORS:
        return set(re.findall(r"^(?:async\s+)?(?:def|class)\s+(\w+)", prompt, re.M))
    return {s.name for s in tree.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
