"""Exact first-error labels: the reference's remaining lines complete the prefix, judged by the sandbox."""

import pytest

from codeprm.labels.exact import exact_first_errors, probe_completions
from codeprm.lines import split_lines
from codeprm.problems import load_benchmark
from codeprm.problems.mutate import mutants
from codeprm.sandbox import Sandbox


@pytest.fixture(scope="module")
def run():
    sandbox = Sandbox(workers=2)
    yield lambda problems, programs: [r.passed for r in sandbox.run_many(list(zip(programs, problems)), stop_at_first_failure=True)]
    sandbox.close()


def test_finds_the_injected_line_of_failing_mutants(run):
    problems = load_benchmark("synth:train?size=6&difficulty=3-5&seed=21")
    items = []
    for p in problems:
        first = p.prompt.count("\n")
        body = [m for m in mutants(p.prompt + p.reference, seed=0) if m.line_index >= first]
        for m in body[::5][:2]:
            items.append((p, "\n" + m.program[len(p.prompt):], m.line_index - first + 1))  # completion line 0 is the blank one
    verdicts = run([p for p, _, _ in items], [p.prompt + c for p, c, _ in items])
    failing = [it for it, v in zip(items, verdicts) if not v]
    assert len(failing) >= 6
    found = exact_first_errors([p for p, _, _ in failing], [c for _, c, _ in failing], run)
    assert found == [line for _, _, line in failing]


def test_passing_and_unlabelable_completions_get_none(run):
    p = load_benchmark("synth:train?size=1&difficulty=3&seed=2")[0]
    lines = p.reference.splitlines()
    early_stop = "\n" + "\n".join(lines[:-1]) + "\n"  # on track throughout, but never returns
    found = exact_first_errors([p, p, p], ["\n" + p.reference, early_stop, "\n"], run)
    assert found == [None, None, None]


def test_probe_completion_keeps_the_prefix_and_aligns_the_reference():
    p = load_benchmark("synth:train?size=1&difficulty=3&seed=2")[0]
    completion = "\n" + p.reference
    body = p.reference.splitlines()
    for s in range(len(body) + 1):
        (probe,) = probe_completions(p, completion, s)
        assert split_lines(probe)[1:] == body or s == 0 and split_lines(probe) == body
