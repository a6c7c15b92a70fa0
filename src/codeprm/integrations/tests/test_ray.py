"""The Ray sandbox pool on a local Ray instance: same verdicts as a local Sandbox, in input order."""

import pytest

from codeprm.errors import CodeprmError
from codeprm.integrations.ray import make_executor
from codeprm.problems import Problem, TestCase

INC = Problem(id="inc", prompt="", entry_point="f", time_limit_s=1.0,
              tests=[TestCase.call(args=[1], expected=2), TestCase.call(args=[-1], expected=0)])
PROGRAMS = ["def f(x):\n    return x + 1\n", "def f(x):\n    return x\n", "def f(x):\n    raise ValueError\n",
            "def f(:\n", "def f(x):\n    while True:\n        pass\n"]


def test_ray_pool_matches_a_local_sandbox_in_order_and_serves_codeprm_eval():
    pytest.importorskip("ray", reason="the 'ray' extra is not installed")
    from codeprm.evaluate.run import EvalConfig, evaluate

    pairs = [(PROGRAMS[i % len(PROGRAMS)], INC) for i in range(23)]
    config = EvalConfig(policy="reference", benchmark="humaneval", limit=3, samples=1)
    with make_executor("local", workers=2) as local:
        expected = [(r.status, r.pass_rate) for r in local.run_many(pairs)]
        local_eval = evaluate(config, sandbox=local, show_progress=False)
    with make_executor("ray", workers=1, actors=2, num_cpus_per_actor=0.5) as pool:
        got = [(r.status, r.pass_rate) for r in pool.run_many(pairs)]
        single = pool.run(PROGRAMS[0], INC)
        assert pool.run_many([]) == []
        ray_eval = evaluate(config, sandbox=pool, show_progress=False)  # what `codeprm eval --executor ray` would do
    assert got == expected and single.passed
    assert ray_eval.model_dump() == local_eval.model_dump()
    assert [s for s, _ in got[:5]] == ["pass", "fail", "runtime_error", "syntax_error", "timeout"]


def test_unknown_executor_is_a_one_line_error():
    with pytest.raises(CodeprmError, match="local or ray"):
        make_executor("slurm")
