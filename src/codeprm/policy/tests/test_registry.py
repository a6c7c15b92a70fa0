"""load_policy specs, and the reference oracle."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from codeprm.errors import CodeprmError
from codeprm.policy import load_policy
from codeprm.policy.hf import HFPolicy
from codeprm.problems import Problem


@pytest.mark.parametrize("spec", ["nope", "hf:", "openai:", "openai:ftp://host", "hf", "embeded"])
def test_bad_specs_raise_one_line_errors(spec):
    with pytest.raises(CodeprmError) as err:
        load_policy(spec)
    assert "\n" not in str(err.value)


def test_hf_spec_loads_a_local_checkpoint(tiny_dir):
    policy = load_policy(f"hf:{tiny_dir}", batch_size=3, device="cpu")
    assert isinstance(policy, HFPolicy) and policy.config.batch_size == 3
    assert policy.generate(["def f"], max_new_tokens=3)[0][0].meta["generated_tokens"] == 3
    with pytest.raises(CodeprmError, match="batch_size"):
        load_policy(f"hf:{tiny_dir}", batch_size=0)


def test_tiny_spec_dispatches_to_the_tiny_module(tmp_path):
    if importlib.util.find_spec("codeprm.policy.tiny") is None:
        with pytest.raises(CodeprmError, match="tiny"):
            load_policy("tiny")
    else:  # options reach load_tiny; with nothing trained at that path and no training allowed it refuses
        with pytest.raises(CodeprmError):
            load_policy("tiny", path=tmp_path / "none", train_if_missing=False)


def test_importing_the_registry_does_not_import_torch():
    code = "import sys, codeprm.policy; codeprm.policy.load_policy('reference'); print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_reference_policy_answers_with_the_reference():
    policy = load_policy("reference")
    problems = [Problem(id="a", prompt="def f():\n", reference="    return 1\n"), Problem(id="b", prompt="x", reference="print(1)", style="instruct")]
    out = policy.complete(problems, n=3, temperature=1.0, max_new_tokens=5)
    assert [[c.text for c in row] for row in out] == [["    return 1\n"] * 3, ["print(1)"] * 3]
    assert problems[0].program(out[0][0].text) == "def f():\n    return 1\n"
    with pytest.raises(CodeprmError, match="raw prompts"):
        policy.generate(["def f():"])
    with pytest.raises(CodeprmError, match="problem c and 1 more has no reference"):
        policy.complete([*problems, Problem(id="c", prompt="x"), Problem(id="d", prompt="y")])
