"""verl: compute_score as a custom reward function, and the ``codeprm`` batch reward manager (verl's older
API) on a real DataProto built with a real tokenizer: outcome on the last response token, PRM line
rewards on line-end tokens. verl 0.9's reward loop, through verl's own code: test_verl_paths.py."""

import json

import pytest
import torch

from codeprm.integrations.verl import compute_score
from codeprm.problems import Problem, TestCase

INC = Problem(id="inc", prompt="def f(x):\n", entry_point="f", time_limit_s=1.0,
              tests=[TestCase.call(args=[1], expected=2), TestCase.call(args=[-1], expected=0),
                     TestCase.call(args=[5], expected=6)])


def test_compute_score_outcome_and_details():
    good = compute_score("codeprm", "    return x + 1\n", INC.model_dump_json())
    assert good["score"] == 1.0 and good["passed"] == 1.0 and good["n_tests"] == 3 and good["infra_error"] == 0.0
    half = compute_score("codeprm", "    return 2 if x == 1 else 0\n", INC.model_dump(mode="json"), outcome="pass_rate")
    assert half["score"] == pytest.approx(2 / 3) and half["passed"] == 0.0 and half["status"] == "fail"
    he = compute_score("humaneval", "    return False\n", "humaneval#HumanEval/0", {"split": "test"})
    assert he["score"] == 0.0 and he["pass_rate"] > 0.0


def test_compute_score_bad_spec_and_option_are_one_line_errors():
    from codeprm.errors import CodeprmError

    with pytest.raises(CodeprmError, match="neither 'BENCHMARK#ID'"):
        compute_score("x", "pass", "not a spec")
    with pytest.raises(CodeprmError, match="outcom"):
        compute_score("x", "pass", INC.model_dump_json(), outcom="pass_rate")


def _batch(tok, prompts, responses, specs):
    """A DataProto as verl's rollout leaves it: left-padded prompts, right-padded responses (eos kept)."""
    import numpy as np
    from verl import DataProto

    p_ids = [tok(p, add_special_tokens=False)["input_ids"] for p in prompts]
    r_ids = [tok(r, add_special_tokens=False)["input_ids"] + [tok.eos_token_id] for r in responses]
    P, R = max(map(len, p_ids)) + 1, max(map(len, r_ids)) + 2
    prompts_t = torch.full((len(p_ids), P), tok.pad_token_id)
    responses_t = torch.full((len(r_ids), R), tok.pad_token_id)
    mask = torch.zeros(len(p_ids), P + R, dtype=torch.long)
    for i, (p, r) in enumerate(zip(p_ids, r_ids)):
        prompts_t[i, P - len(p):] = torch.tensor(p)
        responses_t[i, :len(r)] = torch.tensor(r)
        mask[i, P - len(p):P + len(r)] = 1
    data = DataProto.from_dict(
        tensors={"prompts": prompts_t, "responses": responses_t, "input_ids": torch.cat([prompts_t, responses_t], 1),
                 "attention_mask": mask},
        non_tensors={"data_source": np.array(["codeprm"] * len(p_ids), dtype=object),
                     "reward_model": np.array([{"ground_truth": s, "style": "rule"} for s in specs], dtype=object)})
    return data, r_ids


def test_reward_manager_places_outcome_and_prm_line_rewards_on_a_real_dataproto(tmp_path):
    pytest.importorskip("verl", reason="the 'verl' extra is not installed")
    from verl.workers.reward_manager import get_reward_manager_cls

    from codeprm.lines import char_to_token, line_end_chars
    from codeprm.prm.model import PRMConfig, ProcessRewardModel
    from codeprm.prm.tests.tiny import tiny_model, tiny_tokenizer

    tok = tiny_tokenizer()
    ProcessRewardModel.from_backbone(tiny_model(len(tok)), tok, PRMConfig(mode="prm")).save_pretrained(tmp_path / "prm")
    responses = ["    y = x + 1\n\n    # done\n    return y\n", "    y = x\n    return y\n"]
    data, r_ids = _batch(tok, [INC.prompt] * 2, responses, [INC.model_dump_json()] * 2)

    manager = get_reward_manager_cls("codeprm")(tokenizer=tok, num_examine=0, prm=str(tmp_path / "prm"))
    out = manager(data, return_dict=True)
    rewards, info = out["reward_tensor"], out["reward_extra_info"]
    assert rewards.shape == data.batch["responses"].shape and rewards.dtype == torch.float32
    assert info["passed"] == [1.0, 0.0] and info["score"] == [1.0, 0.0] and info["line_rewards"] == [2.0, 2.0]

    scores = manager.prm.score_many([INC.prompt] * 2, responses)
    for b, (text, ids) in enumerate(zip(responses, r_ids)):
        # line ends found independently of the manager: the tokenizer's own character offsets
        offsets = tok(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        ends = char_to_token(offsets, line_end_chars(text))
        weight = 0.2 if b == 0 else 0.5  # RewardConfig's prm_weight_pass / prm_weight_fail
        expected = torch.zeros(rewards.shape[1])
        for line, (tok_index, score) in enumerate(zip(ends, scores[b])):
            if score is not None:
                expected[tok_index] += weight * (score - 0.5)
        expected[len(ids) - 1] += 1.0 if b == 0 else 0.0  # outcome on the last valid response token (eos)
        assert torch.allclose(rewards[b], expected, atol=1e-6), (b, rewards[b], expected)
        assert rewards[b, len(ids):].abs().sum() == 0  # nothing on padding
    assert sum(s is None for s in scores[0]) == 2  # the blank and the comment line get no reward


def test_reward_manager_without_prm_is_outcome_only():
    pytest.importorskip("verl", reason="the 'verl' extra is not installed")
    from verl.workers.reward_manager import get_reward_manager_cls

    from codeprm.prm.tests.tiny import tiny_tokenizer

    tok = tiny_tokenizer()
    data, r_ids = _batch(tok, [INC.prompt], ["    return x + 1\n"], [json.loads(INC.model_dump_json())])
    rewards = get_reward_manager_cls("codeprm")(tokenizer=tok, num_examine=0)(data)
    assert rewards.nonzero().tolist() == [[0, len(r_ids[0]) - 1]] and rewards[0, len(r_ids[0]) - 1] == 1.0
