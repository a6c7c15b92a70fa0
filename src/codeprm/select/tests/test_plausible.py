"""Parsing generated assert lines into (input, claimed output) call tests."""

from __future__ import annotations

from codeprm.select.plausible import assert_chunks, input_key, parse_assert, parse_generations

# What CodeGen wrote after "assert " (CodeT's layout): a newline, the call, a message, more asserts, a cut.
GEN = "\n    add(1, 2) == 3, 'small'\nassert \n    add(-1, 1) == 0\nassert add(1, 2) == 3\nassert 3 == add(2, 1)\nassert add(1,"


def test_chunks_split_on_assert_lines_and_keep_the_prefix():
    chunks = assert_chunks(GEN)
    assert chunks[0] == "assert add(1, 2) == 3, 'small'"
    assert chunks[1] == "assert add(-1, 1) == 0"
    assert len(chunks) == 5 and chunks[-1] == "assert add(1,"


def test_parse_dedupes_counts_and_drops_what_is_not_a_call_test():
    parsed = parse_generations([GEN, "add(5, 5) != 3\nassert isinstance(add(1, 1), int)"], "add")
    assert [(t.args, t.expected) for t in parsed.tests] == [([1, 2], 3), ([-1, 1], 0), ([2, 1], 3), ([5, 5], True)][:3]
    assert parsed.asserts == 7
    assert parsed.duplicates == 1  # add(1, 2) == 3 twice
    assert parsed.unparsed == 1  # the cut-off last line
    assert parsed.not_call == 2  # != and isinstance


def test_types_matter_in_dedupe_and_inputs_group_claims():
    parsed = parse_generations(["f(1) == 1\nassert f(1) == 1.0\nassert f(1) == True\nassert f(2) == 1"], "f")
    assert len(parsed.tests) == 4
    assert len({input_key(t) for t in parsed.tests}) == 2


def test_only_the_entry_point_counts_and_other_calls_are_not_literals():
    assert parse_assert("assert g(1) == 2", "f") is None
    assert parse_assert("assert f(g(1)) == 2", "f") is None
    test = parse_assert("assert f([1, 2], key='a') == (3, {'x'})", "f")
    assert test.args == [[1, 2]] and test.kwargs == {"key": "a"} and test.expected == (3, {"x"})
