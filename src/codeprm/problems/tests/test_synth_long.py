"""The long synth suite: 16-40-line references that pass their own tests, deterministic, bad options named."""

import pytest

from codeprm.errors import CodeprmError
from codeprm.problems import load_benchmark


def test_long_problems_have_16_to_40_lines_and_references_that_pass():
    problems = load_benchmark("synth:long?size=12")
    assert len(problems) == 12 and len({p.id for p in problems}) == 12
    for problem in problems:
        assert 16 <= len(problem.reference.splitlines()) <= 40
        namespace: dict = {}
        exec(problem.program(problem.reference), namespace)  # our own generated code
        func = namespace[problem.entry_point]
        for test in problem.tests:
            assert func(*test.args) == test.expected, problem.id


def test_long_suite_is_deterministic_and_checks_options():
    a = load_benchmark("synth:long?size=3&seed=5")
    b = load_benchmark("synth:long?size=3&seed=5")
    assert [p.model_dump() for p in a] == [p.model_dump() for p in b]
    assert a[0].prompt != load_benchmark("synth:long?size=3&seed=6")[0].prompt
    with pytest.raises(CodeprmError, match="unknown option 'nope'"):
        load_benchmark("synth:long?nope=1")
    with pytest.raises(CodeprmError, match="parts"):
        load_benchmark("synth:long?parts=9")
