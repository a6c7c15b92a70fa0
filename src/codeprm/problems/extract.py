"""Code out of model output.

``extract_code`` takes a chat answer (prose, markdown fences, demos) and returns the code to run
(``truncate.truncate_completion`` does the same for completion-style continuations, with these rules).

It reads the code with ``ast`` and keep what a solution needs: imports, functions, classes and
assignments that call nothing the answer defined. What is dropped is a *demo*: prints, asserts, example
calls, ``if __name__ == "__main__":`` blocks. For stdio programs (no entry point) the top-level code is
the program, so nothing is dropped from it.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

_PY_LANGS = {"", "python", "python3", "py", "py3", "python2", "ipython"}  # not pycon: a >>> session is output
_FENCE_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w+#.-]*)[^\n`]*$")
_CODE_START = re.compile(r"^(?:async\s+def|def|class|import|from\s+[\w.]+\s+import|@[\w.]+)\b")
# what ast.parse raises on text that is not Python: NUL bytes give ValueError, deep nesting
# RecursionError or MemoryError
_PARSE_ERRORS = (SyntaxError, ValueError, RecursionError, MemoryError)
_DEMO_CALLS = {"print", "input", "exit", "quit", "breakpoint", "help", "display"}


@dataclass
class Block:
    lang: str
    code: str
    closed: bool


def fenced_blocks(text: str) -> list[Block]:
    """Markdown code blocks in order; an unterminated last fence runs to the end of the text."""
    blocks: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE_OPEN.match(lines[i])
        if not m:
            i += 1
            continue
        fence, indent = m["fence"], len(m["indent"])
        closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        body: list[str] = []
        i += 1
        while i < len(lines) and not closing.match(lines[i]):
            # fences inside list items are indented; strip that indentation, not the code's
            line = lines[i]
            body.append(line[indent:] if line[:indent].strip() == "" else line)
            i += 1
        blocks.append(Block(m["lang"].lower(), "\n".join(body), closed=i < len(lines)))
        i += 1
    return blocks


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
        return True
    except _PARSE_ERRORS:
        return False


def _longest_parsing_prefix(lines: list[str]) -> str | None:
    """The longest run of leading lines that parses (drops prose or a cut-off line at the end)."""
    for k in range(len(lines), 0, -1):
        code = "\n".join(lines[:k])
        if code.strip() and _parses(code):
            return code
    return None


def _defines(code: str, name: str) -> bool:
    return re.search(rf"^\s*(?:async\s+)?def\s+{re.escape(name)}\s*\(", code, re.M) is not None


def _is_python_block(block: Block) -> bool:
    if block.lang not in _PY_LANGS:
        return False
    if block.lang:
        return True
    # Unlabeled: output such as `[1, 2]` parses too, so ask for something only code has.
    return re.search(r"^\s*(def |class |import |from \S+ import |return\b|for |while |if )|=", block.code, re.M) is not None


def _choose(blocks: list[Block], entry_point: str | None) -> Block | None:
    python = [b for b in blocks if _is_python_block(b)]
    if not python:
        return None
    if entry_point:
        defining = [b for b in python if _defines(b.code, entry_point)]
        if defining:
            return defining[-1]  # a later block is usually the revised answer
    # The longest block; on a tie the last one. Blocks that define something beat bare snippets.
    return max(reversed(python), key=lambda b: (bool(re.search(r"^\s*(def|class) ", b.code, re.M)), len(b.code)))


def _unfenced_code(text: str) -> str:
    """Code in an answer without fences: all of it if it parses, else from the first line that starts
    code to the longest prefix that parses."""
    if _parses(text):
        return text
    lines = text.splitlines()
    for start, line in enumerate(lines):
        if _CODE_START.match(line):
            code = _longest_parsing_prefix(lines[start:])
            if code is not None:
                return code
    return text


def _with_helpers(chosen: Block, blocks: list[Block]) -> str:
    """The chosen block, preceded by imports/defs from other Python blocks that it uses but lacks
    (answers that split a solution into "helper" and "main function" blocks)."""
    try:
        tree = ast.parse(chosen.code)
    except _PARSE_ERRORS:
        return chosen.code
    defined = _top_level_names(tree)
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | {
        n.value.id for n in ast.walk(tree) if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)
    }
    missing = used - defined
    extra: list[str] = []
    for block in blocks:
        if block is chosen or not _is_python_block(block) or not missing:
            continue
        try:
            other = ast.parse(block.code)
        except _PARSE_ERRORS:
            continue
        for stmt in other.body:
            names = _top_level_names(ast.Module(body=[stmt], type_ignores=[]))
            if isinstance(stmt, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and names & missing:
                extra.append(_source_with_decorators(block.code, stmt))
                missing -= names
    return "\n\n".join([*extra, chosen.code]) if extra else chosen.code


def _top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(stmt.name)
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in stmt.names)
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
    return names


def _first_line(stmt: ast.stmt) -> int:
    decorators = getattr(stmt, "decorator_list", [])
    return min([stmt.lineno, *(d.lineno for d in decorators)])


def _source_with_decorators(code: str, stmt: ast.stmt) -> str:
    lines = code.splitlines()
    return "\n".join(lines[_first_line(stmt) - 1 : stmt.end_lineno])


# --- what a solution keeps ------------------------------------------------------------------------


def _calls_local_or_demo(node: ast.AST, local: set[str]) -> bool:
    for n in ast.walk(node):
        if isinstance(n, ast.Call):
            f = n.func
            root = f
            while isinstance(root, (ast.Attribute, ast.Call, ast.Subscript)):
                root = root.value if not isinstance(root, ast.Call) else root.func
            if isinstance(root, ast.Name) and (root.id in local or root.id in _DEMO_CALLS):
                return True
    return False


def _is_main_guard(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.If) and "__name__" in ast.unparse(stmt.test) and "__main__" in ast.unparse(stmt.test)


def keeps(stmt: ast.stmt, local: set[str]) -> bool:
    """Whether a top-level statement belongs to a solution (vs. a demo). ``local``: names the code
    defines (calling them at top level is an example run)."""
    if isinstance(stmt, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return True
    if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        return not _calls_local_or_demo(stmt, local)
    if isinstance(stmt, ast.Expr):
        if isinstance(stmt.value, ast.Constant):  # a docstring
            return True
        # sys.setrecursionlimit(...) and the like configure the run; anything else is an example
        return isinstance(stmt.value, ast.Call) and isinstance(stmt.value.func, ast.Attribute) and not _calls_local_or_demo(stmt, local)
    if isinstance(stmt, ast.If) and not _is_main_guard(stmt):
        return all(keeps(s, local) for s in [*stmt.body, *stmt.orelse])
    if isinstance(stmt, ast.Try):  # try: import x / except ImportError: ...
        inner = [*stmt.body, *stmt.orelse, *stmt.finalbody, *(s for h in stmt.handlers for s in h.body)]
        return all(keeps(s, local) or isinstance(s, ast.Pass) for s in inner)
    return False


def strip_demos(code: str, extra_local: set[str] = frozenset()) -> str:
    """``code`` without top-level demo statements (and the comment lines right above each)."""
    try:
        tree = ast.parse(code)
    except _PARSE_ERRORS:
        return code
    local = _top_level_names(tree) - _imported_names(tree) | set(extra_local)
    lines = code.splitlines()
    drop: set[int] = set()  # 0-based line numbers
    def test_named(stmt: ast.stmt) -> bool:
        return isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and (stmt.name == "check" or stmt.name.startswith("test"))

    # names the solution itself uses (demos and test functions calling each other do not count)
    used = {n.id for s in tree.body if keeps(s, local) and not test_named(s) for n in ast.walk(s) if isinstance(n, ast.Name)}
    for stmt in tree.body:
        if keeps(stmt, local) and not (test_named(stmt) and stmt.name not in used | set(extra_local)):
            continue
        first = _first_line(stmt) - 1
        drop.update(range(first, stmt.end_lineno))
        k = first - 1
        while k >= 0 and (lines[k].startswith("#") or not lines[k].strip()) and k not in drop:
            drop.add(k)
            k -= 1
    kept = [line for i, line in enumerate(lines) if i not in drop]
    return _tidy("\n".join(kept))


def _imported_names(tree: ast.Module) -> set[str]:
    return {(a.asname or a.name).split(".")[0] for s in tree.body if isinstance(s, (ast.Import, ast.ImportFrom)) for a in s.names}


def _tidy(code: str) -> str:
    code = re.sub(r"\n{4,}", "\n\n\n", code.strip("\n"))
    return code + "\n" if code else ""


# --- chat answers ---------------------------------------------------------------------------------


def extract_code(text: str, entry_point: str | None = None, prompt: str | None = None) -> str:
    """The code to run from a chat answer.

    ``entry_point``: the function the tests call; the block defining it wins, and demos are dropped.
    None means a stdio program, kept whole. ``prompt``: for completion-style problems, the code prompt
    the answer continues; the result is then a continuation of it (the body of the restated function
    plus any helpers), so that ``prompt + result`` is the program.
    """
    blocks = fenced_blocks(text)
    chosen = _choose(blocks, entry_point)
    if chosen is not None:
        code = _with_helpers(chosen, blocks)
    elif blocks and not any(_is_python_block(b) for b in blocks) and not _CODE_START.search(text):
        code = blocks[-1].code  # only non-Python fences, e.g. ```cpp; hand it over as written
    else:
        code = _unfenced_code(text)
    first = next((line for line in code.splitlines() if line.strip()), "")
    indented = first[:1] in (" ", "\t")  # an answer that is only the indented body of the function
    code = _dedent(code)
    if chosen is not None and not _parses(code):  # an unterminated fence cut mid-line, or prose after
        code = _longest_parsing_prefix(code.splitlines()) or code
    # a prose prompt (instruct problems) is not code to continue: the answer is the whole program
    if prompt is not None and entry_point and _prompt_function(prompt, entry_point) is not None:
        return as_continuation(prompt, code, entry_point, indented)
    if entry_point:
        return strip_demos(code, {entry_point})
    return _tidy(code)


def as_continuation(prompt: str, code: str, entry_point: str, indented: bool = False) -> str:
    """See :func:`_continuation`; whole lines always start on a line of their own."""
    out = _continuation(prompt, code, entry_point, indented)
    if prompt and not prompt.endswith("\n") and out and not out.startswith("\n"):
        out = "\n" + out
    return out


def _continuation(prompt: str, code: str, entry_point: str, indented: bool = False) -> str:
    """Turn a chat answer into a continuation of a completion-style ``prompt``.

    When the answer restates the entry function with the prompt's parameter names, the result is its
    body (without a repeated docstring) followed by the answer's other definitions and any imports the
    prompt lacks. An answer that is only a body is indented to fit. Otherwise the whole answer follows
    the prompt and redefines the function, which Python allows after the prompt's docstring-only body.
    """
    indent = _body_indent(prompt)
    try:
        tree = ast.parse(code)
    except _PARSE_ERRORS:
        tree = None
    if tree is None or not _defines(code, entry_point):
        if indented or (tree is not None and _has_bare_return(tree.body)):
            return _tidy(_reindent(code, indent))
        return _after_prompt(prompt, strip_demos(code))
    prompt_fn = _prompt_function(prompt, entry_point)
    target = next((s for s in tree.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)) and s.name == entry_point), None)
    if target is None or prompt_fn is None or _arg_names(target) != _arg_names(prompt_fn):
        return _after_prompt(prompt, strip_demos(code, {entry_point}))
    lines = code.splitlines()
    body = _new_statements(target.body, prompt_fn.body)
    body_text = "\n".join(lines[_first_line(body[0]) - 1 : target.end_lineno])
    # keep comment lines directly above the first body statement
    k = _first_line(body[0]) - 2
    while k >= target.lineno and lines[k].strip().startswith("#"):
        body_text = lines[k] + "\n" + body_text
        k -= 1
    body_text = _reindent(body_text, indent)
    rest_tree = ast.Module(body=[s for s in tree.body if s is not target], type_ignores=[])
    prompt_lines = {line.strip() for line in prompt.splitlines()}
    rest = []
    for stmt in rest_tree.body:
        src = _source_with_decorators(code, stmt)
        if isinstance(stmt, (ast.Import, ast.ImportFrom)) and src.strip() in prompt_lines:
            continue  # the prompt already imports it
        rest.append(src)
    rest_code = strip_demos("\n\n".join(rest), _top_level_names(tree)) if rest else ""
    return _tidy(body_text + ("\n\n\n" + rest_code if rest_code.strip() else ""))


def _margin(code: str) -> str:
    lines = [line for line in code.splitlines() if line.strip()]
    if not lines:
        return ""
    margin = min(len(line) - len(line.lstrip(" \t")) for line in lines)
    return lines[0][:margin]


def _dedent(code: str) -> str:
    """Remove the common indentation. Unlike ``textwrap.dedent``, whitespace-only lines keep what is
    beyond the margin, so multi-line strings keep their exact text."""
    margin = _margin(code)
    if not margin:
        return code
    return "\n".join(line[len(margin):] if line.startswith(margin) else line.lstrip(" \t") for line in code.split("\n"))


def _reindent(code: str, indent: str) -> str:
    """``code`` moved to ``indent``; unchanged when it is already there."""
    if _margin(code) == indent:
        return code
    return "\n".join(indent + line if line else line for line in _dedent(code).split("\n"))


def _body_indent(prompt: str) -> str:
    for line in reversed(prompt.splitlines()):
        if line.strip():
            m = re.match(r"[ \t]*", line)
            ind = m.group(0) if m else ""
            # after `def f():` with no docstring the body goes one level deeper
            return ind + "    " if line.rstrip().endswith(":") else (ind or "    ")
    return "    "


def _has_bare_return(stmts: list[ast.stmt]) -> bool:
    """A ``return``/``yield`` outside any function: the code is a function body."""
    for stmt in stmts:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if isinstance(stmt, ast.Return):
            return True
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, (ast.Yield, ast.YieldFrom)):
            return True
        children = [c for f in ("body", "orelse", "finalbody") for c in getattr(stmt, f, [])]
        children += [c for h in getattr(stmt, "handlers", []) for c in h.body]
        children += [c for case in getattr(stmt, "cases", []) for c in case.body]
        if _has_bare_return(children):
            return True
    return False


def _after_prompt(prompt: str, code: str) -> str:
    """``code`` to follow ``prompt`` so that ``prompt + result`` parses: a prompt without a final newline
    needs one, a prompt ending in a bare ``def f():`` needs a body first."""
    stub = _body_indent(prompt) + "pass\n"
    newline = "" if prompt.endswith("\n") or not prompt else "\n"
    for lead in ("", newline, stub, newline + stub):
        if _parses(prompt + lead + code):
            return lead + code
    return code


def _prompt_function(prompt: str, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """The prompt's (last) definition of ``name``, parsing a bare ``def f():`` prompt with a stub body."""
    try:
        tree = ast.parse(prompt)
    except _PARSE_ERRORS:
        try:
            tree = ast.parse(prompt + _body_indent(prompt) + "pass\n")
        except _PARSE_ERRORS:
            return None
    found = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name]
    return found[-1] if found else None


def _new_statements(body: list[ast.stmt], prompt_body: list[ast.stmt]) -> list[ast.stmt]:
    """``body`` without the leading statements the prompt's function already has (its docstring, an
    ``import`` placed before it as in HumanEval/115); a restated but reworded docstring goes too."""
    def is_doc(s: ast.stmt) -> bool:
        return isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant) and isinstance(s.value.value, str)

    k = 0
    while k < len(body) - 1 and k < len(prompt_body) and (ast.dump(body[k]) == ast.dump(prompt_body[k]) or is_doc(body[k]) and is_doc(prompt_body[k])):
        k += 1
    if k == 0 and len(body) > 1 and is_doc(body[0]):
        k = 1
    return body[k:]


def _arg_names(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    a = fn.args
    names = [x.arg for x in [*a.posonlyargs, *a.args, *a.kwonlyargs]]
    names += [f"*{a.vararg.arg}"] if a.vararg else []
    names += [f"**{a.kwarg.arg}"] if a.kwarg else []
    return names
