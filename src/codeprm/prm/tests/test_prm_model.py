"""The reward model: reading scores at line ends, batching, saving and loading, LoRA, ORM mode."""

from __future__ import annotations

import json

import pytest
import torch

from codeprm.errors import CodeprmError
from codeprm.prm.data import LabelRow
from codeprm.prm.model import PRMConfig, ProcessRewardModel
from codeprm.prm.tests.tiny import BAD, GOOD, label_row, tiny_model, tiny_tokenizer
from codeprm.prm.train import Example, batch_loss, build_examples, class_weights

PROMPT = "def f(xs):\n"


def make(mode="prm", loss="bce", lora_r=None, seed=0):
    tokenizer = tiny_tokenizer()
    torch.manual_seed(seed)
    return ProcessRewardModel.from_backbone(tiny_model(len(tokenizer), seed), tokenizer, PRMConfig(mode=mode, loss=loss), lora_r=lora_r)


def test_scores_one_per_line_none_on_neutral_lines():
    prm = make()
    scores = prm.score(PROMPT, BAD)
    lines = BAD.split("\n")[:-1]
    assert len(scores) == len(lines)
    assert [s is None for s in scores] == [not l.strip() or l.strip().startswith("#") for l in lines]
    assert all(0.0 < s < 1.0 for s in scores if s is not None)  # bce scores are probabilities


def test_batched_scores_match_one_by_one():
    prm = make(loss="mse")
    completions = [GOOD, BAD, "    return 1", "    x = [\n        1,\n    ]\n    return x\n"]
    alone = [prm.score(PROMPT, c) for c in completions]
    batched = prm.score_many([PROMPT] * 4, completions, batch_size=3)
    for a, b in zip(alone, batched):
        assert [x is None for x in a] == [x is None for x in b]
        assert torch.allclose(torch.tensor([x for x in a if x is not None]), torch.tensor([x for x in b if x is not None]), atol=1e-5)


def test_score_depends_on_the_prefix_only():
    """Causal reading: a line's score does not change when later lines change."""
    prm = make()
    a = prm.score(PROMPT, "    s = 0\n    return s\n")
    b = prm.score(PROMPT, "    s = 0\n    return -s * 2\n")
    assert a[0] == pytest.approx(b[0], abs=1e-6) and a[1] != pytest.approx(b[1], abs=1e-6)


def test_save_and_load_layout_for_the_critic(tmp_path):
    from transformers import AutoModelForCausalLM

    prm = make(loss="mse")
    prm.save_pretrained(tmp_path)
    for name in ("config.json", "model.safetensors", "tokenizer.json", "value_head.safetensors", "prm_config.json"):
        assert (tmp_path / name).is_file(), name
    assert json.loads((tmp_path / "prm_config.json").read_text())["loss"] == "mse"
    loaded = ProcessRewardModel.from_pretrained(tmp_path)
    assert loaded.score(PROMPT, BAD) == pytest.approx(prm.score(PROMPT, BAD), abs=1e-6)
    AutoModelForCausalLM.from_pretrained(tmp_path)  # a plain causal LM the RL critic can start from


def test_lora_trains_adapters_only_and_saves_merged(tmp_path):
    prm = make(lora_r=4)
    trainable = [n for n, p in prm.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n or n.startswith("value_head") for n in trainable)
    with torch.no_grad():  # LoRA B starts at zero; make the adapters matter before merging
        for name, p in prm.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    prm.save_pretrained(tmp_path)
    assert prm.config.lora == {"r": 4, "alpha": 16, "dropout": 0.0}
    assert any("lora_" in n for n, _ in prm.named_parameters())  # saving did not merge the training copy
    loaded = ProcessRewardModel.from_pretrained(tmp_path)
    assert not any("lora_" in n for n, _ in loaded.named_parameters())
    assert loaded.score(PROMPT, GOOD) == pytest.approx(prm.score(PROMPT, GOOD), abs=1e-4)
    fresh = make()  # the merged weights differ from the base: the adapters were kept
    assert fresh.score(PROMPT, GOOD) != pytest.approx(loaded.score(PROMPT, GOOD), abs=1e-4)


def test_orm_mode_scores_programs():
    orm = make(mode="orm")
    scores = orm.score_programs([PROMPT, PROMPT], [GOOD, BAD])
    assert len(scores) == 2 and scores[0] != scores[1]
    with pytest.raises(CodeprmError, match="outcome reward model"):
        orm.score(PROMPT, GOOD)
    with pytest.raises(CodeprmError, match="line-level"):
        make().score_programs([PROMPT], [GOOD])


def _row(raw: dict) -> LabelRow:
    keys = ("problem_id", "policy_prompt", "completion", "lines", "labels", "first_error", "passed", "method")
    return LabelRow(**{k: raw[k] for k in keys})


@pytest.mark.parametrize("loss", ["mse", "bce"])
def test_training_steps_fit_line_labels(loss):
    prm = make(loss=loss)
    rows = [_row(label_row("p", GOOD, None, True)), _row(label_row("p", BAD, 3, False))]
    examples = build_examples(prm, rows)
    assert [e.targets for e in examples][1] == ([1.0, 1.0, 0.0, 0.0] if loss == "bce" else [1.0, 1.0, -1.0, -1.0])
    optimizer = torch.optim.AdamW(prm.parameters(), lr=5e-3)
    first = None
    for _ in range(25):
        value, _, _ = batch_loss(prm, examples)
        first = first if first is not None else value.item()
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
    assert value.item() < 0.3 * first
    scores = prm.score(PROMPT, BAD)
    threshold = prm.config.threshold
    assert scores[0] > threshold and scores[3] < threshold and scores[4] < threshold


def test_orm_examples_read_the_last_token():
    orm = make(mode="orm", loss="mse")
    examples = build_examples(orm, [_row(label_row("p", GOOD, None, True)), _row(label_row("p", BAD, 3, False))])
    assert [e.targets for e in examples] == [[1.0], [-1.0]]
    assert all(e.positions == [len(e.encoded.input_ids) - 1] for e in examples)
    assert isinstance(examples[0], Example)


@pytest.mark.parametrize("loss", ["mse", "bce"])
def test_class_weights_make_both_classes_weigh_half(loss):
    prm = make(loss=loss)
    rows = [_row(label_row("p", GOOD, None, True)), _row(label_row("p", BAD, 3, False))]
    examples = build_examples(prm, rows)  # 6 correct lines, 2 wrong
    w_good, w_bad = class_weights(examples, loss)
    assert (w_good, w_bad) == pytest.approx((0.5 / 0.75, 0.5 / 0.25))
    targets = [t for e in examples for t in e.targets]
    good = [t > prm.config.threshold for t in targets]
    assert sum(w_good for g in good if g) == pytest.approx(sum(w_bad for g in good if not g))
    weighted, values, t = batch_loss(prm, examples, (w_good, w_bad))
    plain, _, _ = batch_loss(prm, examples)
    per = (torch.nn.functional.binary_cross_entropy_with_logits(values, t, reduction="none") if loss == "bce"
           else (values - t) ** 2)
    mask = torch.tensor(good)
    assert weighted.item() == pytest.approx(0.5 * per[mask].mean().item() + 0.5 * per[~mask].mean().item(), rel=1e-5)
    assert plain.item() == pytest.approx(per.mean().item(), rel=1e-5)
