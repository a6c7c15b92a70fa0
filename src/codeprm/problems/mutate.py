"""One-line mutants of Python source: each mutant changes exactly one physical line.

Kinds: ``operator_swap`` (``+`` to ``-``, ``*=`` to ``+=``, ...), ``constant_change`` (an int literal
plus or minus one, a short string literal shortened), ``comparison_flip`` (``<`` to ``<=`` or ``>``,
``==`` to ``!=``, ``in`` to ``not in``, ``and`` to ``or``), ``variable_swap`` (one use of a variable
replaced by another variable of the program) and ``dropped_line`` (a simple statement replaced by
``pass``). The edit is made on tokens, so the rest of the program is byte-for-byte unchanged. Every
mutant parses and differs from the original's AST; mutants are unique and come in a deterministic order
(by line, then column), which ``seed`` only affects through the variable-swap draws and ``limit``.
"""

from __future__ import annotations

import ast
import builtins
import io
import keyword
import random
import tokenize
from dataclasses import dataclass

KINDS = ("operator_swap", "constant_change", "comparison_flip", "variable_swap", "dropped_line")

_ARITHMETIC = {
    "+": ("-",), "-": ("+",), "*": ("+", "//"), "//": ("*", "%"), "/": ("*",), "%": ("//",), "**": ("*",),
    "+=": ("-=",), "-=": ("+=",), "*=": ("+=",), "//=": ("*=",), "/=": ("*=",), "%=": ("//=",),
}
_COMPARISON = {
    "<": ("<=", ">"), "<=": ("<", ">="), ">": (">=", "<"), ">=": (">", "<="), "==": ("!=",), "!=": ("==",),
    "and": ("or",), "or": ("and",), "in": ("not in",), "is": ("is not",),
}
_COMPOUND = ("if", "elif", "else", "for", "while", "def", "class", "with", "try", "except", "finally", "async", "match", "case")


@dataclass(frozen=True)
class Mutant:
    program: str  # the whole mutated program
    line_index: int  # 0-based index into program.splitlines() of the one changed line
    kind: str  # one of KINDS
    detail: str  # what changed, e.g. "'<' -> '<='"


def mutants(program: str, lines: range | None = None, seed: int = 0, kinds: tuple[str, ...] = KINDS,
            limit: int | None = None, swaps_per_use: int = 2) -> list[Mutant]:
    """Mutants of ``program`` changing one line among ``lines`` (0-based; all lines when None).

    A program that does not parse has no mutants (an empty list). ``limit`` keeps a seeded random
    subset, still in line order; ``swaps_per_use`` bounds the replacement variables tried per use.
    """
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown mutant kind {sorted(unknown)[0]!r}; known: {', '.join(KINDS)}")
    try:
        tree = ast.parse(program)
        original = ast.dump(tree)
        tokens = list(tokenize.generate_tokens(io.StringIO(program).readline))
    except (SyntaxError, tokenize.TokenError, ValueError):
        return []
    source_lines = program.splitlines(keepends=True)
    wanted = set(range(len(source_lines)) if lines is None else lines)
    rng = random.Random(seed)
    variables = sorted(_variables(program))
    candidates: list[tuple[int, int, str, str, str]] = []  # (line, col, kind, new line, detail)

    for pos, tok in enumerate(tokens):
        row = tok.start[0] - 1
        if row not in wanted or tok.start[0] != tok.end[0]:
            continue  # multi-line tokens (docstrings) are never mutated
        line = source_lines[row]
        prev = tokens[pos - 1] if pos else None
        nxt = tokens[pos + 1] if pos + 1 < len(tokens) else None

        def replace(text: str) -> str:
            return line[: tok.start[1]] + text + line[tok.end[1]:]

        if tok.type == tokenize.OP and tok.string in _ARITHMETIC and "operator_swap" in kinds:
            for new in _ARITHMETIC[tok.string]:
                candidates.append((row, tok.start[1], "operator_swap", replace(new), f"{tok.string!r} -> {new!r}"))
        elif tok.string in _COMPARISON and tok.type in (tokenize.OP, tokenize.NAME) and "comparison_flip" in kinds:
            if tok.string in ("in", "is") and ((prev and prev.string == "not") or (nxt and nxt.string == "not")):
                continue
            for new in _COMPARISON[tok.string]:
                candidates.append((row, tok.start[1], "comparison_flip", replace(new), f"{tok.string!r} -> {new!r}"))
        elif tok.type == tokenize.NUMBER and "constant_change" in kinds:
            try:
                value = int(tok.string, 0)
            except ValueError:
                continue
            for new in (value + 1, value - 1):
                candidates.append((row, tok.start[1], "constant_change", replace(str(new)), f"{value} -> {new}"))
        elif tok.type == tokenize.STRING and "constant_change" in kinds and tok.string[:1] in "'\"" and not tok.string.startswith(('"""', "'''")):
            quote, inner = tok.string[0], tok.string[1:-1]
            if inner and "\\" not in inner:
                new = quote + inner[:-1] + quote  # drop the last character
                candidates.append((row, tok.start[1], "constant_change", replace(new), f"{tok.string} -> {new}"))
        elif tok.type == tokenize.NAME and tok.string in variables and "variable_swap" in kinds:
            if (prev and prev.string in (".", "def", "class")) or (nxt and nxt.string == "=" and _inside_call(tokens, pos)):
                continue  # attribute names, definitions and keyword arguments are not variable uses
            others = [v for v in variables if v != tok.string]
            for new in rng.sample(others, min(swaps_per_use, len(others))):
                candidates.append((row, tok.start[1], "variable_swap", replace(new), f"{tok.string} -> {new}"))

    if "dropped_line" in kinds:
        # bare string statements are docstrings: dropping one changes no behaviour worth a label
        docstrings = {n.lineno - 1 for n in ast.walk(tree) if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)}
        for row in sorted(wanted):
            if row >= len(source_lines) or row in docstrings:
                continue
            stripped = source_lines[row].strip()
            first_word = stripped.split(maxsplit=1)[0].rstrip(":") if stripped else ""
            if not stripped or stripped.startswith(("#", "@")) or stripped == "pass" or first_word in _COMPOUND or stripped.endswith((":", "\\", "(", "[", "{", ",")):
                continue
            indent = source_lines[row][: len(source_lines[row]) - len(source_lines[row].lstrip())]
            ending = "\n" if source_lines[row].endswith("\n") else ""
            candidates.append((row, len(indent), "dropped_line", f"{indent}pass{ending}", f"dropped {stripped[:40]!r}"))

    result: list[Mutant] = []
    seen = {program}
    for row, _col, kind, new_line, detail in sorted(candidates, key=lambda c: (c[0], c[1], KINDS.index(c[2]))):
        mutated = "".join(source_lines[:row]) + new_line + "".join(source_lines[row + 1:])
        if mutated in seen:
            continue
        seen.add(mutated)
        try:
            if ast.dump(ast.parse(mutated)) == original:
                continue
        except (SyntaxError, ValueError):
            continue
        result.append(Mutant(mutated, row, kind, detail))
    if limit is not None and len(result) > limit:
        keep = set(rng.sample(range(len(result)), limit))
        result = [m for i, m in enumerate(result) if i in keep]
    return result


def _variables(program: str) -> set[str]:
    """Names the program binds (parameters, assignment and loop targets), minus keywords and builtins."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(program)):
        if isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return {n for n in names if not keyword.iskeyword(n) and not hasattr(builtins, n)}


def _inside_call(tokens: list[tokenize.TokenInfo], pos: int) -> bool:
    """Whether the token at ``pos`` sits inside an open bracket (so ``name=`` is a keyword argument)."""
    depth = 0
    for tok in reversed(tokens[:pos]):
        if tok.type == tokenize.NEWLINE:
            return False
        if tok.string in ")]}":
            depth += 1
        elif tok.string in "([{":
            if depth == 0:
                return True
            depth -= 1
    return False
