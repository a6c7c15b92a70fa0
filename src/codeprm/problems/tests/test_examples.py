"""Docstring examples -> call tests, on hand-written prompts whose examples are known."""

from __future__ import annotations

from codeprm.problems.examples import docstring_examples, public_examples


def _pairs(tests):
    return [(t.args, t.kwargs, t.expected) for t in tests]


def test_doctest_examples_with_multiline_output_and_continuation():
    prompt = '''def grid(n: int, m: int = 1):
    """ Rows of a grid.
    >>> grid(2)
    [[0, 0],
     [0, 0]]
    >>> grid(1,
    ...      m=3)
    [[0, 0, 0]]
    >>> grid(0)

    Some prose after the examples.
    """
'''
    assert _pairs(public_examples(prompt, "grid")) == [
        ([2], {}, [[0, 0], [0, 0]]), ([1], {"m": 3}, [[0, 0, 0]]), ([0], {}, None)]


def test_strings_with_quotes_and_escapes_stay_as_written():
    prompt = '''def quote(s):
    """
    >>> quote("it's")
    'it\\'s!'
    >>> quote('say "hi"')
    'say "hi"!'
    >>> quote('a\\nb')
    'a\\nb!'"""
'''
    assert _pairs(public_examples(prompt, "quote")) == [
        (["it's"], {}, "it's!"), (['say "hi"'], {}, 'say "hi"!'), (["a\nb"], {}, "a\nb!")]


def test_examples_of_other_functions_are_left_out():
    prompt = '''def helper(x):
    """
    >>> helper(1)
    2
    """
    return x + 1


def main(x):
    """ Uses helper.
    >>> main(1)
    4
    >>> len([1, 2])
    2
    >>> x = main(3)

    main(2) == 6
    """
'''
    assert _pairs(public_examples(prompt, "main")) == [([1], {}, 4), ([2], {}, 6)]
    assert _pairs(public_examples(prompt, "helper")) == [([1], {}, 2)]
    found = docstring_examples(prompt, {"main"})
    assert [e.name for e in found.found] == ["helper", "main", "len", "main"]
    assert [why for _, _, why in found.unparsed] == ["source does not parse"]


def test_no_examples():
    assert public_examples('def f(x):\n    """Return x doubled."""\n', "f") == []
    assert public_examples("", "f") == []
    assert public_examples("def f(x):\n    return x\n", "f") == []


def test_inline_notations_and_what_is_not_an_example():
    prompt = '''def fly(q, w):
    \'\'\'
    Examples:
    fly([1, 2], 5) ➞ False
    fly([3], 5) ==> True  # it is balanced
    * fly([], 0) -> 1 + 1 = 2
    fly([1], 1) => true
    for fly([2], 2) == 'ok'
    fly(a) => False
    fly(n) = fly(n - 1) + 1
    fly([
      1, 2], 3) == [(0, 1)]
    fly([9], 9) returns "x" (because of the rule)
    fly([5], 5) = 5.00
    \'\'\'
'''
    found = docstring_examples(prompt, {"fly"})
    assert _pairs(found.of("fly")) == [
        ([[1, 2], 5], {}, False), ([[3], 5], {}, True), ([[], 0], {}, 2), ([[1], 1], {}, True),
        ([[2], 2], {}, "ok"), ([[1, 2], 3], {}, [(0, 1)]), ([[9], 9], {}, "x"), ([[5], 5], {}, 5.0)]
    assert [text for _, text, _ in found.unparsed] == ["fly(a) => False", "fly(n) = fly(n - 1) + 1"]


def test_doctest_comparison_and_missing_separator():
    prompt = '''def f(lst):
    """
    >>> f([]) == 0
    >>> f([1]) == 1
    True
    >>> f([2]) [2, 2]
    >>> f([3]) == 3
    False
    """
'''
    found = docstring_examples(prompt, {"f"})
    assert _pairs(found.of("f")) == [([[]], {}, 0), ([[1]], {}, 1), ([[2]], {}, [2, 2])]
    assert len(found.unparsed) == 1


def test_named_parameter_notations():
    prompt = '''def top(arr, k):
    """
    Example 1:
        Input: arr = [-3, -4, 5], k = 3
        Output: [-4, -3, 5]
    Example 2:
        Input:
            arr : [4, 4]
            k : 1
        Output: [4] # the largest
    For arr = [1], k = 0 the output should be []
    Input: [7]
    """
'''
    found = docstring_examples(prompt)
    assert _pairs(found.of("top")) == [
        ([], {"arr": [-3, -4, 5], "k": 3}, [-4, -3, 5]), ([], {"arr": [4, 4], "k": 1}, [4]),
        ([], {"arr": [1], "k": 0}, [])]
    assert [why for _, _, why in found.unparsed] == ["Input: without an Output: line"]


def test_repeated_examples_are_kept_once_and_types_matter():
    prompt = 'def f(x):\n    """\n    >>> f(1)\n    1\n    >>> f(1)\n    1\n\n    f(1) == 1.0\n    """\n'
    assert _pairs(public_examples(prompt, "f")) == [([1], {}, 1), ([1], {}, 1.0)]
    assert [type(t.expected) for t in public_examples(prompt, "f")] == [int, float]


def test_an_inline_example_right_after_a_doctest_output_is_still_read():
    prompt = 'def f(x):\n    """\n    >>> f(3)\n    6\n    f(0) == 0\n    >>> f([1,\n    ... 2])\n    [2,\n     4]\n    """\n'
    assert _pairs(public_examples(prompt, "f")) == [([3], {}, 6), ([0], {}, 0), ([[1, 2]], {}, [2, 4])]


def test_named_arguments_the_signature_lacks_go_by_position():
    prompt = 'def fill(grid, capacity):\n    """\n    Input:\n        grid : [[1]]\n        bucket_capacity : 2\n    Output: 1\n    For grid = [], capacity = 1 the output should be 0\n    """\n'
    assert _pairs(public_examples(prompt, "fill")) == [([[[1]], 2], {}, 1), ([], {"grid": [], "capacity": 1}, 0)]
