"""TRL: the reward functions alone, and inside TRL's own GRPOTrainer for two steps with a tiny local model."""

import pytest

from codeprm.integrations.trl import outcome_reward, pass_rate_reward, prm_reward
from codeprm.problems import Problem, TestCase

INC = Problem(id="inc", prompt="def f(x):\n", entry_point="f", time_limit_s=1.0,
              tests=[TestCase.call(args=[1], expected=2), TestCase.call(args=[-1], expected=0),
                     TestCase.call(args=[5], expected=6)])
SPEC = INC.model_dump_json()


def test_outcome_and_pass_rate_rewards_in_trls_convention():
    completions = ["    return x + 1\n", "    return 2 if x == 1 else 0\n", "    return (\n"]
    kw = {"problem": [SPEC] * 3, "completion_ids": [[1]] * 3, "trainer_state": None}
    assert outcome_reward([INC.prompt] * 3, completions, **kw) == [1.0, 0.0, 0.0]
    assert pass_rate_reward([INC.prompt] * 3, completions, **kw) == pytest.approx([1.0, 2 / 3, 0.0])
    chat = [[{"role": "assistant", "content": "```python\ndef f(x):\n    return x + 1\n```"}]]
    instruct = INC.model_copy(update={"style": "instruct", "prompt": "Write f(x), which returns x + 1."}).model_dump_json()
    assert outcome_reward([[{"role": "user", "content": "write f"}]], chat, problem=[instruct]) == [1.0]


def test_missing_problem_column_is_a_one_line_error():
    from codeprm.errors import CodeprmError

    with pytest.raises(CodeprmError, match="'problem' column"):
        outcome_reward(["p"], ["c"])
    with pytest.raises(CodeprmError, match="aggregate"):
        prm_reward(object(), aggregate="max")


def test_prm_reward_is_the_lowest_line_score(tmp_path):
    from codeprm.prm.model import PRMConfig, ProcessRewardModel
    from codeprm.prm.tests.tiny import tiny_model, tiny_tokenizer

    tok = tiny_tokenizer()
    prm = ProcessRewardModel.from_backbone(tiny_model(len(tok)), tok, PRMConfig(mode="prm"))
    completions = ["    s = 0\n    # c\n    return s\n", "\n# only a comment\n"]
    got = prm_reward(prm)([INC.prompt] * 2, completions, problem=[SPEC] * 2)
    scores = prm.score_many([INC.prompt] * 2, completions)
    assert got == [pytest.approx(min(x for x in scores[0] if x is not None)), None]
    assert prm_reward(prm, "mean").__name__ == "codeprm_prm_mean"


def test_grpo_trainer_runs_two_steps_with_codeprm_rewards(tmp_path):
    pytest.importorskip("trl", reason="the 'trl' extra is not installed")
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from codeprm.prm.model import PRMConfig, ProcessRewardModel
    from codeprm.prm.tests.tiny import tiny_model, tiny_tokenizer

    tok = tiny_tokenizer()
    model = tiny_model(len(tok), seed=1)
    prm = ProcessRewardModel.from_backbone(tiny_model(len(tok), seed=2), tok, PRMConfig(mode="prm"))
    data = Dataset.from_dict({"prompt": [INC.prompt] * 4, "problem": [SPEC] * 4})
    calls = []

    def counted(prompts, completions, **kw):
        calls.append((len(completions), sorted(kw)))
        return outcome_reward(prompts, completions, **kw)

    args = GRPOConfig(output_dir=str(tmp_path / "out"), per_device_train_batch_size=4, num_generations=4, max_completion_length=12,
                      max_steps=2, learning_rate=1e-3, logging_steps=1, report_to=[], use_cpu=True, save_strategy="no", seed=0)
    trainer = GRPOTrainer(model=model, processing_class=tok, reward_funcs=[counted, pass_rate_reward, prm_reward(prm)],
                          args=args, train_dataset=data)
    trainer.train()
    assert trainer.state.global_step == 2
    assert len(calls) >= 2 and all(n == 4 and "problem" in keys for n, keys in calls)
    logged = [h for h in trainer.state.log_history if "rewards/codeprm_prm_min/mean" in h]
    assert logged and all("rewards/pass_rate_reward/mean" in h for h in logged)
