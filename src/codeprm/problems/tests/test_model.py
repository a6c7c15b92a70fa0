import math

import pytest
from hypothesis import given, strategies as st

from codeprm.errors import CodeprmError
from codeprm.problems import Problem, TestCase, read_jsonl, write_jsonl
from codeprm.problems.values import decode, encode

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5) | st.binary(max_size=4)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3)
    | st.tuples(inner, inner)
    | st.frozensets(st.integers(), max_size=3)
    | st.dictionaries(st.text(max_size=3) | st.integers(), inner, max_size=3),
    max_leaves=10,
)


@given(values)
def test_encode_roundtrips_with_types(value):
    import json

    back = decode(json.loads(json.dumps(encode(value))))
    assert back == value
    assert type(back) is type(value) or isinstance(value, bytes)


def test_nonfinite_floats_roundtrip():
    assert math.isinf(decode(encode(float("-inf"))))
    assert math.isnan(decode(encode(float("nan"))))


def test_tagged_looking_dict_is_not_misread():
    value = {"__tuple__": [1, 2]}
    assert decode(encode(value)) == value


def test_problem_jsonl_roundtrip(tmp_path):
    p = Problem(
        id="x",
        prompt="def f(a):\n",
        entry_point="f",
        tests=[TestCase.call(args=[(1, 2)], expected={1: {3}}), TestCase.stdio("1\n", "2\n"), TestCase.assert_("assert candidate(1)")],
        reference="    return a\n",
    )
    write_jsonl([p], tmp_path / "p.jsonl")
    (q,) = read_jsonl(tmp_path / "p.jsonl")
    assert q == p
    assert q.tests[0].args == [(1, 2)] and q.tests[0].expected == {1: {3}}
    assert q.reference_program == "def f(a):\n    return a\n"


def test_bad_row_names_line_and_field(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "a", "prompt": "", "tests": []}\n{"id": "b", "prompt": "", "tests": [{"kind": "nope"}]}\n')
    with pytest.raises(CodeprmError, match=r"bad.jsonl:2: field 'tests.0.kind'"):
        read_jsonl(path)


def test_limits_are_validated():
    with pytest.raises(ValueError):
        Problem(id="a", prompt="", time_limit_s=0)
