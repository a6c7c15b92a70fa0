"""The execution matrix built in the sandbox: claims judged by the sandbox, outputs read through the
probe, crashes and hangs as failing cells, and the cache making a rerun free."""

from __future__ import annotations

import numpy as np
import pytest

from codeprm.problems import Problem, TestCase
from codeprm.select.execute import Cache, PlausibleSuite, probe_program
from codeprm.select.matrix import Limits, build_matrices, output_codes
from codeprm.select.plausible import parse_generations

PROBLEM = Problem(id="P/0", prompt="def f(x):\n", entry_point="f",
                  tests=[TestCase.call(args=[1], expected=2), TestCase.call(args=[4], expected=8)])
COMPLETIONS = [
    "    return 2 * x\n",          # correct
    "    return x + x\n",          # correct, another program with the same behaviour
    "    return 2 * x\n",          # a duplicate sample of the first
    "    return x + 1\n",          # wrong
    "    raise ValueError(x)\n",   # crashes
    "    while True:\n        pass\n",  # hangs
]
CLAIMS = parse_generations(["f(1) == 2\nassert f(2) == 4\nassert f(3) == 4\nassert f(2) == 4.0"], "f").tests


@pytest.fixture(scope="module")
def sandbox():
    from codeprm.sandbox import Sandbox

    with Sandbox(workers=2) as box:
        yield box


def test_matrix_cells_and_cache(sandbox, tmp_path):
    limits = Limits(hidden_time_limit_s=0.2, plausible_time_limit_s=0.2, max_timeouts=2)
    cache = Cache(tmp_path / "m.sqlite")
    (m,), cost = build_matrices([PROBLEM], {"P/0": COMPLETIONS}, {"P/0": CLAIMS}, sandbox, cache, limits)
    assert len(m.programs) == 5 and m.sample_program.tolist() == [0, 1, 0, 2, 3, 4]
    assert m.correct.tolist() == [True, True, False, False, False]
    # claims: f(1)==2, f(2)==4, f(3)==4 (a wrong claim; x + 1 satisfies it, and f(1)==2), f(2)==4.0
    # (true under Python's ==, as the assert had it)
    assert m.passes.astype(int).tolist() == [[1, 1, 0, 1], [1, 1, 0, 1], [1, 0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    # three distinct inputs; both correct programs agree, the wrong one differs, crash/hang give no output
    assert m.outputs.shape == (5, 3)
    assert (m.outputs[0] == m.outputs[1]).all() and (m.outputs[0] >= 0).all()
    assert (m.outputs[2] != m.outputs[0]).tolist() == [False, True, True]  # x + 1 == 2 * x at x = 1 only
    assert (m.outputs[3] == -1).all() and (m.outputs[4] == -1).all()
    assert cost.timeouts >= 2 and cost.skipped > 0  # the hang stopped after max_timeouts
    cache.close()
    again = Cache(tmp_path / "m.sqlite")
    (m2,), cost2 = build_matrices([PROBLEM], {"P/0": COMPLETIONS}, {"P/0": CLAIMS}, sandbox, again, limits)
    assert cost2.cells == 0 and cost2.cached == 10
    assert (m2.passes == m.passes).all() and (m2.outputs == m.outputs).all()


def test_probe_canonical_forms_agree_like_equality():
    suite = PlausibleSuite.from_tests([TestCase.call(args=[1], expected=None)])
    ns: dict = {}
    exec(probe_program("def f(x):\n    return {'b': 1.0, 'a': {2, 1}}\ndef g(x):\n    return {'a': {1, 2}, 'b': 1}\n", "f"), ns)
    first = ns["_codeprm_probe_"]("h", [1], {})
    ns["f"] = ns["g"]
    assert ns["_codeprm_probe_"]("h", [1], {}) == first and first.startswith("fp:")
    assert ns["_codeprm_probe_"]("c", [1], {}, {"a": {1, 2}, "b": 1}) is True  # Python's ==: 1.0 == 1
    assert len(suite.sandbox_tests()) == 2


def test_output_codes_number_values_per_column():
    codes = output_codes([["fp:a", "fp:x"], ["fp:b", "!timeout"], ["fp:a", "fp:x"]], 2)
    assert codes.tolist() == [[0, 0], [1, -1], [0, 0]]
    assert np.array_equal(output_codes([], 0), np.zeros((0, 0)))


def test_public_examples_are_their_own_array_and_cached(sandbox, tmp_path):
    from codeprm.problems.examples import public_examples

    prompt = 'def f(x):\n    """Double x.\n    >>> f(3)\n    6\n    f(0) == 0\n    """\n'
    problem = PROBLEM.model_copy(update={"prompt": prompt})
    examples = {"P/0": public_examples(prompt, "f")}
    assert len(examples["P/0"]) == 2
    limits = Limits(hidden_time_limit_s=0.2, plausible_time_limit_s=0.2, max_timeouts=2)
    cache = Cache(tmp_path / "m.sqlite")
    (m,), cost = build_matrices([problem], {"P/0": COMPLETIONS}, {"P/0": CLAIMS}, sandbox, cache, limits,
                                public=examples)
    # 2 * x and x + x pass both examples; x + 1 passes neither (f(3) = 4, f(0) = 1); crash and hang none
    assert m.public.astype(int).tolist() == [[1, 1], [1, 1], [0, 0], [0, 0], [0, 0]]
    assert m.arrays()["public"].shape == (6, 2) and m.passes.shape == (5, 4)  # apart from the claims
    # without public examples the array is empty and the other cells come from the cache
    (bare,), cost2 = build_matrices([problem], {"P/0": COMPLETIONS}, {"P/0": CLAIMS}, sandbox, cache, limits)
    assert bare.arrays()["public"].shape == (6, 0) and cost2.cells == 0
    (m3,), cost3 = build_matrices([problem], {"P/0": COMPLETIONS}, {"P/0": CLAIMS}, sandbox, cache, limits,
                                  public=examples)
    assert cost3.cells == 0 and cost3.cached == 15 and (m3.public == m.public).all()
    cache.close()
