"""The ground floor: one program rule, one line rule, one config plumbing, seen from the stages."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codeprm.config import StrictModel, build, build_from_cli, parse_sets
from codeprm.errors import CodeprmError
from codeprm.lines import LineSpan, is_neutral, line_end_chars, line_spans, scored_indices, split_lines
from codeprm.policy.base import Completion
from codeprm.problems import Problem, TestCase
from codeprm.programs import program_text
from codeprm.sandbox.result import Result, TestResult

COMPLETION_STYLE = Problem(id="g/inc", prompt='def inc(x):\n    """x + 1"""\n', entry_point="inc",
                           tests=[TestCase.call([1], expected=2)])
INSTRUCT = Problem(id="g/inc_chat", prompt="Write inc(x) returning x + 1.", entry_point="inc", style="instruct",
                   tests=[TestCase.call([1], expected=2)])
CASES = [
    # a completion that runs past the function: example calls, a main guard, prose
    (COMPLETION_STYLE, "    return x + 1\n\n\nprint(inc(1))\nassert inc(2) == 3\nif __name__ == '__main__':\n    inc(3)\n"),
    (COMPLETION_STYLE, "    return x + 1\n"),
    # a chat answer: prose around a fenced block with a demo call inside
    (INSTRUCT, "Here you go:\n\n```python\ndef inc(x):\n    return x + 1\n\nprint(inc(4))\n```\nIt adds one."),
    (INSTRUCT, "```py\nimport math\n\ndef inc(x):\n    return math.floor(x) + 1\n```"),
]


class _Capture:
    """Sandbox and RL verifier double: records the programs it is asked to judge."""

    def __init__(self):
        self.programs: list[str] = []

    def _result(self, problem):
        return Result(problem_id=problem.id, tests=[TestResult(status="pass")])

    def run_many(self, items, **kwargs):
        self.programs += [program for program, _ in items]
        return [self._result(problem) for _, problem in items]

    def __call__(self, problems, programs, coverage=False):
        self.programs += list(programs)
        return [self._result(p) for p in problems]


class _Fixed:
    """Policy double answering every problem with the completion the test gives it."""

    def __init__(self, problem: Problem, completion: str):
        self.answers = {problem.id: completion}
        self.by_prompt = {problem.prompt: completion}

    def prompt_for(self, problem):
        return problem.prompt

    def default_stop(self, problem):
        return []

    def complete(self, problems, n=1, **kwargs):
        return [[Completion(text=self.answers[p.id])] * n for p in problems]

    def generate(self, prompts, n=1, **kwargs):
        return [[Completion(text=self.by_prompt[prompt])] * n for prompt in prompts]


@pytest.mark.parametrize("problem,completion", CASES)
def test_eval_labels_and_rl_judge_the_same_program(problem, completion, tmp_path):
    """The text RL rewards is the text ``codeprm eval`` judges, and the text a label probe judges."""
    from codeprm.evaluate.run import EvalConfig, evaluate
    from codeprm.labels.cache import ProbeCache
    from codeprm.labels.probe import Judge, Prober, Sampling
    from codeprm.rl.config import RLConfig
    from codeprm.rl.trainer import evaluate_pass1

    expected = program_text(problem, completion)
    assert "print(" not in expected and "assert " not in expected and "It adds one" not in expected

    eval_box = _Capture()
    (tmp_path / "p.jsonl").write_text(problem.model_dump_json() + "\n")
    evaluate(EvalConfig(policy="fixed", benchmark=f"jsonl:{tmp_path / 'p.jsonl'}"), policy=_Fixed(problem, completion),
             sandbox=eval_box, show_progress=False)

    label_box = _Capture()  # a probe from the empty prefix judges its rollouts as whole responses
    cache = ProbeCache()
    prober = Prober(_Fixed(problem, completion), "fixed", Judge(label_box, cache), cache,
                    Sampling(k=1, temperature=0.0, top_p=1.0, max_new_tokens=64, seed=0))
    prober.probe(problem, "")

    rl_box = _Capture()
    evaluate_pass1(_Fixed(problem, completion), [problem], rl_box, RLConfig())

    assert eval_box.programs == label_box.programs == rl_box.programs == [expected]


def test_instruct_answer_is_the_whole_program_even_when_the_prompt_is_code():
    problem = INSTRUCT.model_copy(update={"prompt": "def inc(x):\n"})
    program = program_text(problem, "```python\ndef inc(x):\n    return x + 1\n```")
    assert program == "def inc(x):\n    return x + 1\n"


def test_program_rule_keeps_a_probed_prefix():
    """A cut that would reach into the probed prefix judges the text as written instead."""
    prefix = "    return x + 1\n"
    assert program_text(COMPLETION_STYLE, prefix + "print(1)\n", keep=prefix) == COMPLETION_STYLE.prompt + prefix
    odd = "    y = 1\nprint(y)\n    return x + y\n"  # the model wrote top-level code mid-function
    assert program_text(COMPLETION_STYLE, odd, keep=odd).endswith(odd)


def test_lines_split_neutral_and_ends():
    text = "a = 1  \n\n   # note\n\tb\r\n"
    assert split_lines(text) == ["a = 1  ", "", "   # note", "\tb\r"]
    assert [is_neutral(x) for x in split_lines(text)] == [False, True, True, False]
    assert scored_indices(split_lines(text)) == [0, 3]
    assert line_spans("x\ny") == [LineSpan(0, 0, 1, False), LineSpan(1, 2, 3, False)]
    assert line_end_chars(text, 100) == [104, None, 117, 120]


@given(st.lists(st.text(alphabet="ab #\t\r", max_size=6), min_size=1, max_size=8))
def test_line_spans_cover_each_line(lines):
    text = "\n".join(lines)
    spans = line_spans(text)
    assert len(spans) == len(split_lines(text))
    for span, line in zip(spans, split_lines(text)):
        assert text[span.start : span.start + len(line)] == line
        assert text[span.start : span.end] == line.rstrip()
        assert span.neutral == is_neutral(line)


class _Cfg(StrictModel):
    rate: float = 0.5
    n: int = 1


class _Outer(StrictModel):
    inner: _Cfg = _Cfg()
    name: str = "x"


def test_config_errors_name_field_and_range(tmp_path):
    with pytest.raises(CodeprmError, match=r"field 'inner.rate'"):
        build(_Outer, {"inner": {"rate": "fast"}})
    with pytest.raises(CodeprmError, match=r"field 'bogus': Extra inputs are not permitted"):
        build(_Outer, {"bogus": 1})
    yml = tmp_path / "c.yaml"
    yml.write_text("name: from_yaml\ninner:\n  n: 3\n")
    cfg = build_from_cli(_Outer, yml, {"name": None}, ["inner.rate=0.25"])
    assert (cfg.name, cfg.inner.n, cfg.inner.rate) == ("from_yaml", 3, 0.25)
    assert build_from_cli(_Outer, yml, {"name": "flag"}, []).name == "flag"
    assert _Outer.from_yaml(yml).inner.n == 3
    with pytest.raises(CodeprmError, match="config file not found"):
        _Outer.from_yaml(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(CodeprmError, match="expected a mapping"):
        _Outer.from_yaml(tmp_path / "bad.yaml")
    with pytest.raises(CodeprmError, match="KEY=VALUE"):
        parse_sets(["novalue"])
    assert parse_sets(["a.b=[1, 2]", "c=text"]) == {"a.b": [1, 2], "c": "text"}
