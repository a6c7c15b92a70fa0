"""HumanEval-X in codeprm's problem model: language, completion-style program, whole-program test."""

import pytest

from codeprm.errors import CodeprmError
from codeprm.problems import load_benchmark
from codeprm.programs import program_text


def cpp_problems():
    try:
        return load_benchmark("humaneval-x:cpp")
    except CodeprmError as exc:
        pytest.skip(str(exc))


def test_cpp_problems_carry_their_language_and_harness():
    problems = cpp_problems()
    assert len(problems) == 164 and {p.language for p in problems} == {"cpp"}
    first = problems[0]
    assert first.id == "CPP/0" and first.style == "completion"
    assert [t.kind for t in first.tests] == ["assert"] and "int main()" in first.tests[0].code
    assert first.reference_program.startswith(first.prompt) and "has_close_elements" in first.reference_program


def test_the_python_cut_rule_leaves_other_languages_alone():
    problem = cpp_problems()[0]
    # Python's rule would cut at a top-level "def"/"print(" line; in C++ these are ordinary text
    completion = "    return false;\n}\n#define def 1\nprint(1);\n"
    assert program_text(problem, completion) == problem.prompt + completion


def test_unknown_language_is_refused():
    with pytest.raises(CodeprmError, match="not supported"):
        load_benchmark("humaneval-x:cobol")
