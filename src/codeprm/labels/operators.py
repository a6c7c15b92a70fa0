"""One-line mutants of a program. Uses ``codeprm.problems.mutate`` when it is installed; until then a
minimal local operator set (comparison, arithmetic, boolean and constant flips), token-based so strings
and comments are never touched."""

from __future__ import annotations

import ast
import io
import tokenize

_SWAPS = {
    "<": ("<=", "compare"), "<=": ("<", "compare"), ">": (">=", "compare"), ">=": (">", "compare"),
    "==": ("!=", "compare"), "!=": ("==", "compare"), "+": ("-", "arith"), "-": ("+", "arith"),
    "*": ("+", "arith"), "//": ("/", "arith"), "and": ("or", "bool"), "or": ("and", "bool"),
    "True": ("False", "bool"), "False": ("True", "bool"),
}


def _local_mutants(program: str) -> list[tuple[str, int, str]]:
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(program).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return []
    lines = program.split("\n")
    out = []
    for tok in tokens:
        (row, col), (end_row, end_col) = tok.start, tok.end
        if row != end_row:
            continue
        if tok.type in (tokenize.OP, tokenize.NAME) and tok.string in _SWAPS:
            new, kind = _SWAPS[tok.string]
        elif tok.type == tokenize.NUMBER and tok.string.isdigit():
            new, kind = str(int(tok.string) + 1), "constant"
        else:
            continue
        line = lines[row - 1]
        mutated_lines = list(lines)
        mutated_lines[row - 1] = line[:col] + new + line[end_col:]
        mutated = "\n".join(mutated_lines)
        try:
            ast.parse(mutated)
        except SyntaxError:
            continue
        out.append((mutated, row - 1, kind))
    return out


def program_mutants(program: str, first_line: int = 0, seed: int = 0) -> list[tuple[str, int, str]]:
    """``(mutated program, changed 0-based line, operator kind)`` for each one-line mutant changing a
    line at or after ``first_line``."""
    try:
        from codeprm.problems.mutate import mutants
    except ImportError:
        return [m for m in _local_mutants(program) if m[1] >= first_line]
    n_lines = len(program.splitlines())
    return [(m.program, m.line_index, f"{m.kind}: {m.detail}") for m in mutants(program, lines=range(first_line, n_lines), seed=seed)]
