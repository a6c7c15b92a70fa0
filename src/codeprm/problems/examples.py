"""Public examples: the example calls a problem statement shows in its docstring, as call tests.

They are part of the problem statement (what a user gives the model), not hidden tests and not model
output, so a selector may run candidates on them, as AlphaCode filters on a problem's public examples.
They can still be wrong (a typo in the statement): a caller that cares checks them against a reference.

Two notations are read, on the prompt's source text (escapes such as ``'a\\nb'`` stay as written, which
is what the author meant the reader to see):

- **doctest**: ``>>> f(<literals>)`` (continued by ``... `` lines), the expected value on the following
  line(s) up to a blank line, the next ``>>>``, a dedent or the end of the docstring (so a list may span
  lines; when that whole output is not a literal, its longest leading run of lines that is one, and the
  lines after it are read again). ``>>> f(...) == <literal>`` with no output (or ``True``) is read as that claim, and
  ``>>> f(...) <literal>`` (a missing separator) as the inline form below.
- **inline**: a line that starts with a call of a function the prompt defines (after ``*``, ``-``,
  ``for``, ``assert``), then a separator (``==``, ``=``, ``=>``, ``==>``, ``->``, ``➞``, ``returns``,
  ``# =>``, ...) and a literal; the longest literal prefix of the rest is the value, so a trailing
  comment or explanation is ignored and constant arithmetic is folded (``-> 19 - 5 - 6 = 8`` claims 8).
  A call may span lines (its brackets open). The words ``true``/``false`` alone read as booleans.

- **named**: the function the prompt documents (its last ``def``) shown through its parameters:
  ``Input: arr = [...], k = 3`` (or ``Input: [4, 2, 3]``, or ``name : value`` lines below ``Input:``)
  then ``Output: <literal>``; and ``For lst = [...] the output should be <literal>``. Parameter names
  become keyword arguments; when one is not a parameter of the ``def`` but the count matches, they are
  passed by position in the order shown (``Input: grid : ..., bucket_capacity : 1`` for
  ``def max_fill(grid, capacity)``).

``>>> f(x)`` with no output shown claims ``None``, as in doctest. Only calls whose arguments are literals
become tests; anything else that looks like an example is kept in ``Examples.unparsed`` with the reason,
so a caller can count it.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from codeprm.problems.asserts import _MISSING, call_test, literal_call, literal_value
from codeprm.problems.model import TestCase

_DOCTEST = re.compile(r"^(\s*)>>>\s?(.*)$")
_CONTINUATION = re.compile(r"^\s*\.\.\.(?: |$)(.*)$")
_DEF = re.compile(r"^\s*def\s+(\w+)\s*\(", re.M)
# a call at the start of a line, after bullets or the words some statements put before it
_INLINE = re.compile(r"^\s*(?:[*\-]\s+|for\s+|assert\s+)?([A-Za-z_]\w*)\s*\(")
_SEPARATOR = re.compile(r"^(?:#\s*)?(?:==>|=>|->|➞|==|=|returns?|should return|should be|evaluates to)?\s*")
_CLOSING = re.compile(r"\s*(\"\"\"|''').*$")
_INPUT = re.compile(r"^\s*Input\s*:\s*(.*)$")
_OUTPUT = re.compile(r"^\s*Output\s*:\s*(.*)$")
_FOR = re.compile(r"^\s*For\s+(.*?),?\s+the (?:output|result) should be\s+(.*)$")
_NAMED_ARG = re.compile(r"^(\w+)\s*:\s*(.*)$")
_MAX_CALL_LINES = 12  # a call spanning more lines than this is not read
_MAX_LINE = 4000


@dataclass(frozen=True)
class Example:
    name: str  # the function the example calls
    test: TestCase
    line: int  # 0-based line of the prompt where the example starts
    notation: str  # "doctest" | "inline"


@dataclass
class Examples:
    found: list[Example] = field(default_factory=list)
    unparsed: list[tuple[int, str, str]] = field(default_factory=list)  # (line, text, why)

    def of(self, name: str) -> list[TestCase]:
        """The tests of the examples calling ``name``, without repeats, in order."""
        seen, out = set(), []
        for ex in self.found:
            key = ex.test.model_dump_json()
            if ex.name == name and key not in seen:
                seen.add(key)
                out.append(ex.test)
        return out


def public_examples(prompt: str, entry_point: str) -> list[TestCase]:
    """The docstring examples of ``entry_point`` in ``prompt`` as call tests (examples of other
    functions left out); [] when the prompt shows none that can be read."""
    return docstring_examples(prompt, {entry_point}).of(entry_point)


def docstring_examples(prompt: str, names: set[str] | None = None) -> Examples:
    """Every example the prompt shows: doctest ones of any function, inline ones of the functions the
    prompt defines and of ``names``."""
    lines = prompt.splitlines()
    defined = _DEF.findall(prompt)
    known = set(defined) | set(names or ())
    out = Examples()
    i = 0
    while i < len(lines):
        match = _DOCTEST.match(lines[i])
        if match:
            i = _doctest(lines, i, match, out)
            continue
        inline = _INLINE.match(lines[i])
        if inline and not re.match(r"^\s*def\s", lines[i]):
            # a call of a function the prompt does not define is kept only when it reads cleanly
            _inline(lines, i, inline.start(1), inline.group(1), out, quiet=inline.group(1) not in known)
        elif defined and (_INPUT.match(lines[i]) or _FOR.match(lines[i])):
            _named(lines, i, defined[-1], _parameters(prompt, defined[-1]), out)
        i += 1
    return out


def _doctest(lines: list[str], i: int, match: re.Match, out: Examples) -> int:
    """Read the ``>>>`` example at line i into ``out``; return the first line after it."""
    indent, source, start = len(match.group(1)), [match.group(2)], i
    i += 1
    while i < len(lines) and (cont := _CONTINUATION.match(lines[i])):
        source.append(cont.group(1))
        i += 1
    expected = []
    while i < len(lines):
        line = lines[i]
        if not line.strip() or _DOCTEST.match(line) or line.strip()[:3] in ('"""', "'''"):
            break
        if len(line) - len(line.lstrip()) < indent:
            break
        closing = _CLOSING.search(line)
        expected.append(line[: closing.start()] if closing else line)
        i += 1
        if closing:
            break
    # an output that is not a literal may be a shorter one followed by prose or an inline example
    # (doctest would read it all as output): keep the longest leading run of lines that is one
    if len(expected) > 1 and _value("\n".join(expected)) is _MISSING:
        for k in range(len(expected) - 1, 0, -1):
            if _value("\n".join(expected[:k])) is not _MISSING:
                i -= len(expected) - k  # the rest is read again
                expected = expected[:k]
                break
    text = "\n".join(source).strip()
    want = "\n".join(x.strip() for x in expected).strip()
    found = _doctest_test(text, want)
    if isinstance(found, tuple):
        out.found.append(Example(found[0], found[1], start, "doctest"))
    elif want == "" and (inline := _INLINE.match(text)):  # `>>> f(x) [0, 1]`: a missing separator
        if not _inline([text], 0, inline.start(1), inline.group(1), out, start, quiet=True):
            out.unparsed.append((start, text, found))
    else:
        out.unparsed.append((start, text + ("\n" + want if want else ""), found))
    return i


def _doctest_test(source: str, expected: str) -> tuple[str, TestCase] | str:
    """(function, test) of one doctest example, or why it is not one."""
    try:
        node = ast.parse(source, mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return "source does not parse"
    if isinstance(node, ast.Compare) and isinstance(getattr(node.left, "func", None), ast.Name):
        if expected not in ("", "True"):
            return "a comparison whose shown result is not True"
        name = node.left.func.id
        test = call_test(node, {name})
        return (name, test) if test is not None else "not f(<literals>) == <literal>"
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
        return "not a plain call of a function"
    test = literal_call(node, _value(expected) if expected else None)  # doctest: no output means None
    return (node.func.id, test) if test is not None else "arguments or expected output are not literals"


def _inline(lines: list[str], i: int, start: int, name: str, out: Examples, line_no: int | None = None,
            quiet: bool = False) -> bool:
    """Read an inline example whose call of ``name`` starts at ``lines[i][start]``; True when it was one."""
    line_no = i if line_no is None else line_no
    text = "\n".join(lines[i: i + _MAX_CALL_LINES])[:_MAX_LINE]
    call, end = _first_call(text, start)
    if call is None:
        if not quiet:
            out.unparsed.append((line_no, lines[i].strip(), "the call does not parse"))
        return False
    rest = _CLOSING.sub("", text[end:].split("\n", 1)[0]).strip()
    value = _longest_literal(_SEPARATOR.sub("", rest, count=1)) if rest else _MISSING
    test = literal_call(call, value)
    if test is None:
        if not quiet:
            out.unparsed.append((line_no, lines[i].strip(), "arguments or claimed value are not literals"))
        return False
    out.found.append(Example(name, test, line_no, "inline"))
    return True


def _parameters(prompt: str, name: str) -> list[str] | None:
    """Parameter names of the last ``def name`` in the prompt (None when its header does not parse)."""
    header = [m for m in re.finditer(r"^\s*def\s+" + re.escape(name) + r"\s*\(.*?\)[^:\n]*:", prompt, re.M | re.S)]
    try:
        node = ast.parse(header[-1].group(0).strip() + " pass").body[0]
    except (IndexError, SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return [a.arg for a in node.args.posonlyargs + node.args.args]


def _named(lines: list[str], i: int, name: str, params: list[str] | None, out: Examples) -> None:
    """Read an ``Input: ... Output: ...`` block or a ``For <args> the output should be <value>`` line."""
    found = _FOR.match(lines[i])
    if found:
        args, claim = found.group(1), found.group(2)
    else:
        pieces, j = [_INPUT.match(lines[i]).group(1)], i + 1
        while j < min(len(lines), i + _MAX_CALL_LINES) and not _OUTPUT.match(lines[j]):
            pieces.append(lines[j].strip())
            j += 1
        if j >= len(lines) or not _OUTPUT.match(lines[j]):
            out.unparsed.append((i, lines[i].strip(), "Input: without an Output: line"))
            return
        claim = _OUTPUT.match(lines[j]).group(1)
        args = ", ".join(_NAMED_ARG.sub(r"\1=\2", p) for p in pieces if p.strip())
    try:
        call = ast.parse(f"{name}({args})", mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        call = None
    if isinstance(call, ast.Call) and params is not None and call.keywords and not call.args \
            and len(call.keywords) == len(params) and any(k.arg not in params for k in call.keywords):
        call.args, call.keywords = [k.value for k in call.keywords], []  # names differ: by position
    test = literal_call(call, _longest_literal(claim)) if isinstance(call, ast.Call) else None
    if test is None:
        out.unparsed.append((i, lines[i].strip(), "arguments or claimed value are not literals"))
    else:
        out.found.append(Example(name, test, i, "named"))


def _first_call(text: str, start: int) -> tuple[ast.Call | None, int]:
    """The shortest ``name(...)`` starting at ``text[start]`` that parses, and where it ends."""
    pos = text.find("(", start)
    while (pos := text.find(")", pos + 1)) != -1:
        try:
            node = ast.parse(text[start: pos + 1].replace("\n", " "), mode="eval").body
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        return (node, pos + 1) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) else (None, -1)
    return None, -1


def _longest_literal(text: str) -> object:
    """The value of the longest prefix of ``text`` (cut at whitespace) that is a literal; _MISSING if none."""
    text = text.strip()
    if text in ("true", "false"):
        return text == "true"
    cuts = [len(text)] + [m.start() for m in re.finditer(r"\s", text)][::-1]
    for cut in cuts:
        part = text[:cut].strip().rstrip(".,;")
        if not part:
            continue
        value = _value(part)
        if value is not _MISSING:
            return value
    return _MISSING


def _value(text: str) -> object:
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return _MISSING
    return literal_value(node)

