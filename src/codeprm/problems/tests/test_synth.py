import ast

import pytest

from codeprm.errors import CodeprmError
from codeprm.problems import load_benchmark
from codeprm.problems.synth import generate_with_signatures, load_synth, split_of


def _run(problem, args):
    namespace = {}
    exec(problem.prompt + problem.reference, namespace)
    return namespace[problem.entry_point](*args)


def test_same_options_give_identical_suites():
    a = load_synth("train?size=40&seed=3")
    b = load_synth("train?size=40&seed=3")
    assert [p.model_dump_json() for p in a] == [p.model_dump_json() for p in b]
    c = load_synth("train?size=40&seed=4")
    assert [p.prompt for p in a] != [p.prompt for p in c]


def test_heldout_compositions_never_occur_in_train():
    train = {sig for _, sig in generate_with_signatures("train", 400)}
    heldout = {sig for _, sig in generate_with_signatures("heldout", 100)}
    assert train and heldout and not train & heldout
    assert all(split_of(s) == "train" for s in train) and all(split_of(s) == "heldout" for s in heldout)


def test_problems_are_well_formed_and_references_pass_their_tests():
    for problem in load_synth("heldout?size=60") + load_synth("train?size=60"):
        assert problem.style == "completion" and problem.source == "synth"
        assert problem.prompt.startswith(f"def {problem.entry_point}(")
        assert problem.prompt.rstrip().endswith('"""') and ">>> " in problem.prompt
        body = problem.reference.splitlines()
        assert 4 <= len(body) <= 15 and all(line.startswith("    ") for line in body)
        ast.parse(problem.prompt + problem.reference)
        assert len(problem.tests) >= 10
        assert len({repr(t.args) for t in problem.tests}) == len(problem.tests)
        for test in problem.tests:
            assert _run(problem, [list(a) if isinstance(a, list) else a for a in test.args]) == test.expected


def test_difficulty_option_bounds_the_number_of_steps():
    pairs = generate_with_signatures("train", 80, difficulty=(2, 3))
    steps = {len(sig.split("|")) - 1 for _, sig in pairs}  # the signature is the domain then one key per step
    assert steps <= {2, 3} and steps == {2, 3}
    hard = generate_with_signatures("heldout", 30, difficulty=(5, 5))
    assert {len(sig.split("|")) - 1 for _, sig in hard} == {5}
    assert len(load_synth("heldout?size=7&difficulty=4")) == 7


@pytest.mark.parametrize("arg, word", [
    ("valid", "split"), ("train?size=abc", "size"), ("train?size=0", "size"),
    ("train?difficulty=9", "difficulty"), ("train?difficulty=4-3", "difficulty"),
    ("train?seed=x", "seed"), ("train?colour=red", "colour"),
])
def test_bad_options_name_the_option(arg, word):
    with pytest.raises(CodeprmError, match=word):
        load_synth(arg)


def test_registry_dispatches_to_synth():
    problems = load_benchmark("synth:heldout?size=5&seed=2")
    assert len(problems) == 5 and all(p.id.startswith("synth/heldout/") for p in problems)
