"""Code extraction from chat answers and truncation of completion-style continuations."""

from __future__ import annotations

import ast
import textwrap

from hypothesis import given, settings, strategies as st

from codeprm.problems.extract import extract_code, fenced_blocks
from codeprm.problems.truncate import truncate_completion

PROMPT = 'from typing import List\n\n\ndef add(a: int, b: int) -> int:\n    """Add two numbers."""\n'


def run(program: str, entry: str, *args):
    """Our own trusted snippets only: exec the program and call its entry point."""
    ns: dict = {}
    exec(compile(program, "<test>", "exec"), ns)
    return ns[entry](*args)


def top_level_kinds(code: str) -> list[str]:
    return [type(s).__name__ for s in ast.parse(code).body]


# --- extract_code ---------------------------------------------------------------------------------


def test_single_fence_with_prose_around():
    text = "Sure! Here you go:\n\n```python\ndef add(a, b):\n    return a + b\n```\n\nThis adds the numbers."
    assert extract_code(text, "add") == "def add(a, b):\n    return a + b\n"


def test_prefers_the_block_defining_the_entry_point():
    text = (
        "First the idea:\n```python\nimport itertools\nfor p in itertools.permutations([1, 2, 3]):\n    print(p)\n"
        "values = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]\n```\n"
        "Solution:\n```python\ndef add(a, b):\n    return a + b\n```\nUsage:\n```python\nprint(add(1, 2))\n```\n"
    )
    assert extract_code(text, "add") == "def add(a, b):\n    return a + b\n"


def test_later_revision_wins_when_two_blocks_define_it():
    text = "```python\ndef add(a, b):\n    return a - b\n```\nOops, fixed:\n```python\ndef add(a, b):\n    return a + b\n```"
    assert run(extract_code(text, "add"), "add", 2, 3) == 5


def test_unlabeled_and_alias_fences():
    for lang in ["", "python3", "py", "Python"]:
        text = f"Answer\n```{lang}\ndef add(a, b):\n    return a + b\n```\n"
        assert run(extract_code(text, "add"), "add", 1, 1) == 2, lang


def test_tilde_fence_and_fence_in_list_item():
    assert "return a + b" in extract_code("~~~python\ndef add(a, b):\n    return a + b\n~~~", "add")
    text = "1. Write it:\n   ```python\n   def add(a, b):\n       return a + b\n   ```\n2. Done"
    assert extract_code(text, "add") == "def add(a, b):\n    return a + b\n"


def test_output_blocks_are_not_code():
    text = "```python\ndef f(x):\n    return [x]\n```\nOutput:\n```text\n[1]\n```\n```\n[2, 3, 4, 5, 6, 7, 8, 9]\n```"
    assert extract_code(text, None) == "def f(x):\n    return [x]\n"


def test_unterminated_fence_cut_mid_line():
    text = "```python\ndef add(a, b):\n    s = a + b\n    return s\n\nprint(add(1,"
    code = extract_code(text, "add")
    assert run(code, "add", 2, 2) == 4 and "print" not in code


def test_main_guard_prints_asserts_and_example_calls_are_dropped():
    text = """```python
import sys
from functools import lru_cache

MOD = 10**9 + 7
sys.setrecursionlimit(10000)
TABLE = {i: i * i for i in range(5)}

@lru_cache(maxsize=None)
def add(a, b):
    return (a + b) % MOD

# Example usage
result = add(1, 2)
print(result)
assert add(2, 2) == 4
add(5, 5)
for i in range(3):
    print(add(i, i))

if __name__ == "__main__":
    print(add(3, 4))
```"""
    code = extract_code(text, "add")
    assert top_level_kinds(code) == ["Import", "ImportFrom", "Assign", "Expr", "Assign", "FunctionDef"]
    assert "Example usage" not in code and "__main__" not in code and "print" not in code
    assert run(code, "add", 2, 3) == 5


def test_test_functions_in_the_answer_are_dropped():
    text = "```python\ndef add(a, b):\n    return a + b\n\ndef test_add():\n    assert add(1, 2) == 3\n\ndef check(f):\n    assert f(0, 0) == 0\n\ntest_add()\ncheck(add)\n```"
    assert extract_code(text, "add") == "def add(a, b):\n    return a + b\n"


def test_stdio_program_is_kept_whole():
    text = "```python\nimport sys\n\ndef main():\n    n = int(sys.stdin.readline())\n    print(n * 2)\n\nif __name__ == \"__main__\":\n    main()\n```"
    code = extract_code(text)
    assert "if __name__" in code and "main()" in code.splitlines()[-1]


def test_no_fences_plain_code_and_code_between_prose():
    assert extract_code("def add(a, b):\n    return a + b\n", "add") == "def add(a, b):\n    return a + b\n"
    text = "Here is my solution.\ndef add(a, b):\n    return a + b\nThis runs in O(1) time."
    assert extract_code(text, "add") == "def add(a, b):\n    return a + b\n"


def test_helpers_from_another_block_are_brought_along():
    text = "Helper:\n```python\nimport math\n\ndef half(x):\n    return x / 2\n```\nMain:\n```python\ndef add(a, b):\n    return half(a) + half(b) + math.floor(0.5)\n```"
    assert run(extract_code(text, "add"), "add", 2, 4) == 3


def test_leetcode_class_is_kept():
    text = "```python\nclass Solution:\n    def add(self, a, b):\n        return a + b\n\nprint(Solution().add(1, 2))\n```"
    code = extract_code(text, "add")
    assert code.startswith("class Solution") and "print" not in code


# --- chat answers for completion-style prompts ----------------------------------------------------


def test_restated_signature_becomes_a_continuation():
    text = '```python\nfrom typing import List\nimport math\n\ndef add(a: int, b: int) -> int:\n    """Add two numbers."""\n    # sum them\n    return helper(a) + b\n\ndef helper(x):\n    return int(math.floor(x))\n\nprint(add(1, 2))\n```'
    cont = extract_code(text, "add", PROMPT)
    assert cont.startswith("    # sum them\n    return helper(a) + b\n")
    assert "Add two numbers" not in cont and "from typing" not in cont and "print" not in cont
    assert run(PROMPT + cont, "add", 2, 3) == 5


def test_restated_with_other_parameter_names_redefines_the_function():
    text = "```python\ndef add(x, y):\n    return x + y\n```"
    cont = extract_code(text, "add", PROMPT)
    assert run(PROMPT + cont, "add", 2, 3) == 5


def test_body_only_answer_is_indented_into_the_prompt():
    for body in ["```python\nreturn a + b\n```", "```python\n    return a + b\n```", "return a + b"]:
        cont = extract_code(body, "add", PROMPT)
        assert cont == "    return a + b\n", body
        assert run(PROMPT + cont, "add", 1, 2) == 3


def test_prompt_without_docstring_or_final_newline_gets_a_valid_program():
    for prompt in ["def add(a, b):\n", "def add(a, b):", 'def add(a, b):\n    """Sum."""']:
        cont = extract_code("```python\ndef add(x, y):\n    return x + y\n```", "add", prompt)
        assert run(prompt + cont, "add", 4, 5) == 9, prompt
        for answer in ["```python\ndef add(a, b):\n    return a + b\n```", "```python\n    return a + b\n```"]:
            assert run(prompt + extract_code(answer, "add", prompt), "add", 4, 5) == 9, (prompt, answer)


# --- truncate_completion --------------------------------------------------------------------------


def test_truncate_keeps_a_clean_completion_unchanged():
    comp = "    return a + b\n"
    assert truncate_completion(PROMPT, comp, "add") is comp or truncate_completion(PROMPT, comp, "add") == comp


def test_truncate_cuts_prints_and_main_guard_but_keeps_helpers():
    comp = (
        "    return helper(a) + b\n\n\n@staticmethod_like\ndef helper(x):\n    return x\n\nLIMIT = 3\n\n"
        "# Test the function\nprint(add(1, 2))\n\nif __name__ == '__main__':\n    import doctest\n"
    )
    out = truncate_completion(PROMPT, comp, "add")
    assert out == "    return helper(a) + b\n\n\n@staticmethod_like\ndef helper(x):\n    return x\n\nLIMIT = 3\n"


def test_truncate_cuts_the_repeated_prompt():
    comp = "    return a + b\n\n\n" + PROMPT + "    return 0\n"
    assert truncate_completion(PROMPT, comp, "add") == "    return a + b\n"


def test_truncate_keeps_a_restatement_when_no_body_was_written():
    comp = "\ndef add(a: int, b: int) -> int:\n    return a + b\n\n\ndef add(a, b):\n    return 0\n\nprint(add(1, 2))\n"
    out = truncate_completion(PROMPT, comp, "add")
    assert out == "\ndef add(a: int, b: int) -> int:\n    return a + b\n"
    assert run(PROMPT + out, "add", 2, 3) == 5


def test_truncate_cuts_a_redefinition_with_decorator():
    comp = "    return a + b\n\n@cache\ndef add(a, b):\n    return 0\n"
    assert truncate_completion(PROMPT, comp, "add") == "    return a + b\n"


def test_truncate_cuts_trailing_prose_and_unfinished_line():
    assert truncate_completion(PROMPT, "    return a + b\n\nThis function returns the sum.\n", "add") == "    return a + b\n"
    assert truncate_completion(PROMPT, "    s = a + b\n    return s if s > 0 else (s +", "add") == "    s = a + b\n"


def test_truncate_leaves_a_syntax_error_inside_the_body():
    comp = "    x = a +\n    return x\n"
    assert truncate_completion(PROMPT, comp, "add") == comp


def test_truncate_keeps_nested_code_and_indented_comments():
    comp = "    def inner(x):\n        return x\n# a comment at column 0 inside the body\n    return inner(a) + b\nassert add(1, 2) == 3\n"
    out = truncate_completion(PROMPT, comp, "add")
    assert out.endswith("    return inner(a) + b\n") and "assert" not in out
    assert run(PROMPT + out, "add", 1, 2) == 3


def test_truncate_keeps_trailing_spaces_of_the_last_kept_line():
    comp = "    return a + b   \n\n\nprint(add(1, 2))\n"
    out = truncate_completion(PROMPT, comp, "add")
    assert out == "    return a + b   \n" and comp.startswith(out)


def test_truncate_keeps_a_test_named_helper_the_body_calls():
    comp = "    return testing(a) + b\n\n\ndef testing(x):\n    return x\n\nprint(1)\n"
    assert truncate_completion(PROMPT, comp, "add") == "    return testing(a) + b\n\n\ndef testing(x):\n    return x\n"


def test_truncate_hands_a_fenced_chat_answer_to_extract_code():
    comp = "Here is the code:\n```python\ndef add(a: int, b: int) -> int:\n    return a + b\n```\n"
    out = truncate_completion(PROMPT, comp, "add")
    assert out == "    return a + b\n"


def test_prose_prompt_of_an_instruct_problem_is_not_continued():
    prose = "Write a function add(a, b) that returns the sum."
    for text in ["```python\ndef add(a, b):\n    return a + b\n```", "```python\nimport math\ndef add(a, b):\n    return a + b\nprint(add(1, 2))\n```"]:
        code = extract_code(text, "add", prose)
        assert code.lstrip().startswith(("def add", "import math")) and run(code, "add", 1, 2) == 3


def test_truncate_prompt_ending_mid_line():
    prompt = "def add(a, b):\n    return a"
    assert truncate_completion(prompt, " + b\nprint(add(1, 2))\n", "add") == " + b\n"


# --- properties -----------------------------------------------------------------------------------

_BODIES = ["    return a + b\n", "    s = a\n    s += b\n    return s\n", "    if a > b:\n        return a + b\n    return b + a\n"]
_HELPERS = ["", "\n\ndef helper(x):\n    return x\n", "\n\nclass Box:\n    pass\n", "\n\nimport math\n"]
_JUNK = [
    "", "\n\nprint(add(1, 2))\n", "\n\nassert add(1, 1) == 2\n", "\n\nif __name__ == '__main__':\n    add(1, 2)\n",
    "\n\nThe function above adds two numbers.\n", "\n\n" + PROMPT, "\n\nfor i in range(3):\n    add(i, i)\n", "\n\nadd(",
    "\n\ndef check(candidate):\n    assert candidate(1, 2) == 3\n\ncheck(add)\n", "\n\ndef test_add():\n    assert add(1, 1) == 2\n",
]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(_BODIES), st.sampled_from(_HELPERS), st.sampled_from(_JUNK), st.sampled_from(_JUNK))
def test_truncation_recovers_body_and_helpers(body, helper, junk1, junk2):
    comp = body + helper + junk1 + junk2
    out = truncate_completion(PROMPT, comp, "add")
    assert out == (body + helper).rstrip() + "\n" and comp.startswith(out)
    assert truncate_completion(PROMPT, out, "add") == out  # idempotent
    assert run(PROMPT + out, "add", 2, 3) == 5


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(_BODIES), st.sampled_from(["", "Here:\n", "Sure, the code is below.\n\n"]), st.sampled_from(["", "\nHope it helps!", "\n```\n[1]\n```"]), st.sampled_from(["python", "py", ""]))
def test_extraction_from_fenced_answers_runs(body, before, after, lang):
    code = "def add(a, b):\n" + body + "\nprint(add(1, 2))\n"
    text = f"{before}```{lang}\n{code}```{after}"
    out = extract_code(text, "add")
    assert "print" not in out and run(out, "add", 2, 3) == 5
    cont = extract_code(text, "add", PROMPT)
    assert cont.rstrip() == body.rstrip() and run(PROMPT + cont, "add", 2, 3) == 5


def test_fenced_blocks_marks_unterminated():
    blocks = fenced_blocks("```python\na = 1\n```\ntext\n```py\nb = 2")
    assert [(b.lang, b.code, b.closed) for b in blocks] == [("python", "a = 1", True), ("py", "b = 2", False)]


def test_body_with_nested_returns_and_blank_lines():
    body = "    if not a:\n        return b\n\n    total = a + b\n    return total\n"
    for text in [f"```python\n{body}```", f"```python\n{textwrap.dedent(body)}```"]:
        cont = extract_code(text, "add", PROMPT)
        assert run(PROMPT + cont, "add", 0, 3) == 3 and run(PROMPT + cont, "add", 2, 3) == 5


def _entry_dump(program: str, entry: str) -> str:
    return next(ast.dump(n) for n in ast.parse(program).body if isinstance(n, ast.FunctionDef) and n.name == entry)


def test_humaneval_answers_round_trip_to_the_reference_function():
    """Every HumanEval reference, wrapped the ways models write it, comes back as the same function."""
    from codeprm.problems.humaneval import load_humaneval

    for p in load_humaneval():
        want = _entry_dump(p.prompt + p.reference, p.entry_point)
        chat = f"Here you go:\n\n```python\n{(p.prompt + p.reference).strip()}\n\n# Example\nprint({p.entry_point})\n\nif __name__ == '__main__':\n    pass\n```\nDone."
        assert _entry_dump(extract_code(chat, p.entry_point), p.entry_point) == want, p.id
        assert _entry_dump(p.prompt + extract_code(chat, p.entry_point, p.prompt), p.entry_point) == want, p.id
        assert _entry_dump(p.prompt + extract_code(f"```python\n{p.reference}```", p.entry_point, p.prompt), p.entry_point) == want, p.id
        comp = p.reference + f"\n\ndef check(candidate):\n    assert True\n\ncheck({p.entry_point})\nIt works."
        cut = truncate_completion(p.prompt, comp, p.entry_point)
        assert comp.startswith(cut) and _entry_dump(p.prompt + cut, p.entry_point) == want, p.id
        # a chat model restating the whole prompt, then its body, then a demo
        restated = p.prompt + p.reference + f"\n\nprint({p.entry_point})\n"
        cut = truncate_completion(p.prompt, restated, p.entry_point)
        assert restated.startswith(cut) and cut.rstrip() == (p.prompt + p.reference).rstrip(), p.id


_FRAGMENTS = ["```python\n", "```\n", "def add(a, b):\n", "    return a + b\n", "print(1)\n", "if __name__ == '__main__':\n",
              "    x = [\n", "Some prose.\n", "\n", "class A:\n", "  pass\n", "\x00", "\t", "((((" * 30, '"""', "import os\n", "@dec\n", ")\n"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(_FRAGMENTS), max_size=12).map("".join) | st.text(max_size=200), st.sampled_from([None, "add"]), st.booleans())
def test_never_raises_on_garbage(text, entry, with_prompt):
    assert isinstance(extract_code(text, entry, PROMPT if with_prompt else None), str)
    assert isinstance(truncate_completion(PROMPT, text, entry), str)
