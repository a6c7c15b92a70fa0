import ast
import multiprocessing as mp
import resource
import signal

import pytest

from codeprm.problems.mutate import KINDS, Mutant, mutants
from codeprm.problems.synth import load_synth

PROGRAM = '''def f(xs, k):
    """Sum of the values above k."""
    total = 0
    for x in xs:
        if x > k:
            total += x * 2
    return total
'''


def test_each_mutant_changes_exactly_its_line_and_parses():
    found = mutants(PROGRAM)
    original = PROGRAM.splitlines()
    assert {m.kind for m in found} == set(KINDS)
    for m in found:
        changed = [i for i, (a, b) in enumerate(zip(original, m.program.splitlines())) if a != b]
        assert changed == [m.line_index] and len(m.program.splitlines()) == len(original)
        assert ast.dump(ast.parse(m.program)) != ast.dump(ast.parse(PROGRAM))
    assert len({m.program for m in found}) == len(found)


def test_expected_mutants_of_each_kind_are_present():
    lines = {(m.kind, m.program.splitlines()[m.line_index].strip()) for m in mutants(PROGRAM)}
    assert ("comparison_flip", "if x >= k:") in lines and ("comparison_flip", "if x < k:") in lines
    assert ("operator_swap", "total -= x * 2") in lines and ("operator_swap", "total += x + 2") in lines
    assert ("constant_change", "total = 1") in lines and ("constant_change", "total += x * 3") in lines
    assert ("dropped_line", "pass") in lines
    assert any(kind == "variable_swap" and text.startswith("if ") and text != "if x > k:" for kind, text in lines)


def test_lines_restrict_where_mutants_are_and_docstrings_are_untouched():
    found = mutants(PROGRAM, lines=range(4, 6))
    assert found and {m.line_index for m in found} <= {4, 5}
    assert all(m.line_index != 1 for m in mutants(PROGRAM))  # the docstring line


def test_seed_and_limit_are_deterministic():
    assert mutants(PROGRAM, seed=1) == mutants(PROGRAM, seed=1)
    few = mutants(PROGRAM, seed=2, limit=5)
    assert len(few) == 5 and few == mutants(PROGRAM, seed=2, limit=5)
    assert [m.line_index for m in few] == sorted(m.line_index for m in few)


def test_unparsable_program_has_no_mutants_and_bad_kind_is_rejected():
    assert mutants("def f(:\n    return 1\n") == []
    with pytest.raises(ValueError, match="kind"):
        mutants(PROGRAM, kinds=("typo",))
    only = mutants(PROGRAM, kinds=("dropped_line",))
    assert only and all(isinstance(m, Mutant) and m.kind == "dropped_line" for m in only)


def _alarm(*_):
    raise TimeoutError


def _kill_counts(problem):
    """(killed, total) over the body mutants of a synth reference, run in a child with a time guard."""
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
    signal.signal(signal.SIGALRM, _alarm)
    program = problem.prompt + problem.reference
    start = len(problem.prompt.splitlines())
    found = mutants(program, lines=range(start, len(program.splitlines())))
    killed = 0
    for m in found:
        try:
            signal.setitimer(signal.ITIMER_REAL, 0.5)  # a mutant may loop forever
            namespace = {}
            exec(m.program, namespace)
            fn = namespace[problem.entry_point]
            killed += any(fn(*[list(a) if isinstance(a, list) else a for a in t.args]) != t.expected for t in problem.tests)
        except BaseException:
            killed += 1
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    return killed, len(found)


def test_synth_tests_kill_nearly_all_one_line_mutants():
    problems = load_synth("heldout?size=12&seed=5")
    with mp.get_context("fork").Pool(1) as pool:
        counts = pool.map(_kill_counts, problems)
    killed, total = map(sum, zip(*counts))
    assert total > 150 and killed / total >= 0.93  # the full heldout suite measures about 0.97
