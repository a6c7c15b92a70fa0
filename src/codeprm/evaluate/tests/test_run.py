"""End-to-end ``evaluate`` on a JSONL benchmark with scripted policies and the real sandbox."""

import json

import pytest

from codeprm.errors import CodeprmError
from codeprm.evaluate.run import EvalConfig, evaluate
from codeprm.policy import Completion, Policy
from codeprm.problems import Problem, TestCase, write_jsonl


class ScriptedPolicy(Policy):
    """Answers each problem with a fixed list of completions, counting calls."""

    def __init__(self, answers: dict[str, list[str]]):
        self.answers = answers
        self.calls = 0

    def generate(self, prompts, n=1, **kwargs):
        raise NotImplementedError

    def complete(self, problems, n=1, **kwargs):
        self.calls += 1
        return [[Completion(text=t) for t in self.answers[p.id][:n]] for p in problems]


@pytest.fixture
def bench(tmp_path):
    problems = [
        Problem(id="inc", prompt="def inc(x):\n", entry_point="inc", tests=[TestCase.call([1], expected=2), TestCase.call([5], expected=6)]),
        Problem(id="neg", prompt="def neg(x):\n", entry_point="neg", tests=[TestCase.call([1], expected=-1)]),
    ]
    path = tmp_path / "bench.jsonl"
    write_jsonl(problems, path)
    return f"jsonl:{path}"


ANSWERS = {
    "inc": ["    return x + 1\n", "    return x\n", "    return x + 1\n"],
    "neg": ["    return x\n", "    return -x\n", "    raise ValueError\n"],
}


def test_pass_at_k_and_rows(bench, tmp_path):
    out = tmp_path / "run"
    config = EvalConfig(policy="scripted", benchmark=bench, samples=3, k=[1, 2, 3])
    summary = evaluate(config, out=out, policy=ScriptedPolicy(ANSWERS), show_progress=False)
    # inc: 2 of 3 pass; neg: 1 of 3 pass.
    assert summary.per_problem == {"inc": [3, 2], "neg": [3, 1]}
    assert summary.pass_at_k["pass@1"] == pytest.approx((2 / 3 + 1 / 3) / 2)
    assert summary.pass_at_k["pass@3"] == pytest.approx(1.0)
    assert summary.statuses["runtime_error"] == 1
    rows = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and all(len(r["tests"]) >= 1 for r in rows)
    assert json.loads((out / "summary.json").read_text())["samples"] == 6


def test_resume_skips_done_samples_and_repairs_torn_row(bench, tmp_path):
    out = tmp_path / "run"
    config = EvalConfig(policy="scripted", benchmark=bench, samples=3, k=[1])
    evaluate(config, out=out, policy=ScriptedPolicy(ANSWERS), show_progress=False)
    rows_path = out / "samples.jsonl"
    lines = rows_path.read_text().splitlines()
    # Simulate a crash: the last row was half written.
    rows_path.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:20])
    policy = ScriptedPolicy(ANSWERS)
    summary = evaluate(config, out=out, policy=policy, show_progress=False)
    assert policy.calls == 1 and summary.samples == 6
    assert len(rows_path.read_text().splitlines()) == 6
    again = ScriptedPolicy(ANSWERS)
    evaluate(config, out=out, policy=again, show_progress=False)
    assert again.calls == 0


def test_other_configuration_in_out_dir_is_refused(bench, tmp_path):
    out = tmp_path / "run"
    evaluate(EvalConfig(policy="scripted", benchmark=bench, samples=1), out=out, policy=ScriptedPolicy(ANSWERS), show_progress=False)
    before = (out / "samples.jsonl").read_text()
    with pytest.raises(CodeprmError, match="another configuration"):
        evaluate(EvalConfig(policy="scripted", benchmark=bench, samples=1, temperature=0.5), out=out, policy=ScriptedPolicy(ANSWERS), show_progress=False)
    assert (out / "samples.jsonl").read_text() == before


def test_k_larger_than_n_is_refused(bench):
    with pytest.raises(CodeprmError, match="exceeds"):
        evaluate(EvalConfig(benchmark=bench, samples=1, k=[5]), policy=ScriptedPolicy(ANSWERS))
