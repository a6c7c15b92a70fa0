"""Training: output layout, validation split by problem, early stopping, resuming after an interruption,
and one-line errors on bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

import codeprm.prm.train as train_module
from codeprm.errors import CodeprmError
from codeprm.prm.data import load_label_rows, split_by_problem
from codeprm.prm.model import ProcessRewardModel
from codeprm.prm.tests.tiny import label_row, save_tiny_base, synthetic_rows, write_labels
from codeprm.prm.train import TrainConfig, train


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory):
    return save_tiny_base(tmp_path_factory.mktemp("base"))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_labels(tmp_path_factory.mktemp("labels"), synthetic_rows(problems=4, samples=2))


def config(data_dir, base_dir, out, **kw) -> TrainConfig:
    defaults = dict(epochs=3, lr=1e-3, batch_size=4, val_frac=0.25, patience=5)
    return TrainConfig(data=str(data_dir), base=str(base_dir), out=str(out), **{**defaults, **kw})


def test_split_by_problem_keeps_problems_apart(data_dir):
    rows = load_label_rows(data_dir)
    train_rows, val_rows = split_by_problem(rows, 0.5, seed=0)
    assert {r.problem_id for r in train_rows}.isdisjoint({r.problem_id for r in val_rows})
    assert len({r.problem_id for r in val_rows}) == 2 and len(train_rows) + len(val_rows) == len(rows)
    assert split_by_problem(rows, 0.5, seed=0) == (train_rows, val_rows)
    assert split_by_problem(rows, 0.0, seed=0) == (rows, [])


def test_train_writes_model_checkpoint_and_tensorboard(data_dir, base_dir, tmp_path):
    result = train(config(data_dir, base_dir, tmp_path / "out"), progress=False)
    out = tmp_path / "out"
    assert [h["epoch"] for h in result.state.history] == [1, 2, 3]
    assert all("val_loss" in h and "val_auroc" in h for h in result.state.history)
    assert result.state.history[-1]["train_loss"] < result.state.history[0]["train_loss"]
    assert result.train_rows == 6 and result.val_rows == 2
    for name in ("config.json", "model.safetensors", "value_head.safetensors", "prm_config.json", "checkpoint/last.pt"):
        assert (out / name).is_file(), name
    assert list((out / "tb").glob("events.out.tfevents.*"))
    prm = ProcessRewardModel.from_pretrained(out)
    assert prm.config.label_format == "hard" and prm.config.base_model == str(base_dir)


def _head(path):
    return load_file(str(path / "value_head.safetensors"))["weight"]


def test_resume_after_interruption_continues_and_matches_an_uninterrupted_run(data_dir, base_dir, tmp_path, monkeypatch):
    straight = train(config(data_dir, base_dir, tmp_path / "straight", val_frac=0.0), progress=False)
    assert straight.resumed_from_epoch == 0

    real_epoch = train_module._train_one_epoch
    started = []

    def interrupted(*args, **kwargs):
        started.append(args[4])  # the epoch number
        if args[4] == 2:
            raise KeyboardInterrupt  # as if Ctrl-C arrived during epoch 2
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(train_module, "_train_one_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(config(data_dir, base_dir, tmp_path / "resumed", val_frac=0.0), progress=False)
    assert started == [1, 2]
    monkeypatch.setattr(train_module, "_train_one_epoch", real_epoch)

    resumed = train(config(data_dir, base_dir, tmp_path / "resumed", val_frac=0.0), progress=False)
    assert resumed.resumed_from_epoch == 1  # it went on with epoch 2, not from scratch
    assert [h["epoch"] for h in resumed.state.history] == [1, 2, 3]
    assert resumed.state.global_step == straight.state.global_step
    assert torch.allclose(_head(tmp_path / "resumed"), _head(tmp_path / "straight"), atol=1e-5)
    for a, b in zip(resumed.state.history, straight.state.history):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)


def test_early_stopping_keeps_the_best_epoch(data_dir, base_dir, tmp_path, monkeypatch):
    losses = iter([1.0, 0.5, 0.7, 0.8, 0.9, 1.0])
    saved_heads = {}
    real_validate, real_save = train_module.validate, ProcessRewardModel.save_pretrained
    monkeypatch.setattr(train_module, "validate", lambda *a: {"loss": next(losses), "auroc": real_validate(*a)["auroc"]})

    def recording_save(self, directory):
        saved_heads[len(saved_heads) + 1] = self.value_head.weight.detach().clone()
        real_save(self, directory)

    monkeypatch.setattr(ProcessRewardModel, "save_pretrained", recording_save)
    result = train(config(data_dir, base_dir, tmp_path / "out", epochs=6, patience=2), progress=False)
    assert result.state.finished and result.state.best_epoch == 2 and len(result.state.history) == 4
    assert len(saved_heads) == 2  # epochs 1 and 2 improved; 3 and 4 did not
    assert torch.allclose(_head(tmp_path / "out"), saved_heads[2])
    again = train(config(data_dir, base_dir, tmp_path / "out", epochs=6, patience=2), progress=False)
    assert again.resumed_from_epoch == 4 and len(again.state.history) == 4  # finished runs stay finished


def test_resume_refuses_other_settings(data_dir, base_dir, tmp_path):
    train(config(data_dir, base_dir, tmp_path / "out", epochs=1), progress=False)
    with pytest.raises(CodeprmError, match="lr"):
        train(config(data_dir, base_dir, tmp_path / "out", epochs=2, lr=5e-4), progress=False)
    result = train(config(data_dir, base_dir, tmp_path / "out", epochs=1, lr=5e-4), restart=True, progress=False)
    assert result.resumed_from_epoch == 0


def test_orm_trains_on_pass_fail(data_dir, base_dir, tmp_path):
    result = train(config(data_dir, base_dir, tmp_path / "orm", mode="orm", epochs=1), progress=False)
    orm = ProcessRewardModel.from_pretrained(tmp_path / "orm")
    assert orm.config.mode == "orm" and orm.config.label_format == "outcome"
    assert result.state.history[0]["train_loss"] > 0


def test_bad_inputs_are_one_line_errors(base_dir, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "labels.jsonl").write_text(json.dumps({"problem_id": "p", "completion": "x"}) + "\n")
    with pytest.raises(CodeprmError, match="policy_prompt"):
        load_label_rows(bad)
    row = label_row("p", "    return 1\n", None, True)
    row["labels"] = [0.5]  # binary labels are +1/-1
    with pytest.raises(CodeprmError, match="not \\+1 or -1"):
        load_label_rows(write_labels(tmp_path / "half", [row]))
    neutral = write_labels(tmp_path / "neutral", [label_row("p", "    # nothing\n\n", None, True)])
    with pytest.raises(CodeprmError, match="no training examples"):
        train(TrainConfig(data=str(neutral), base=str(base_dir), out=str(tmp_path / "o")), progress=False)
    with pytest.raises(CodeprmError, match="no config.json"):
        train(TrainConfig(data=str(write_labels(tmp_path / "ok", synthetic_rows(2, 2))), base=str(tmp_path), out=str(tmp_path / "o")), progress=False)


def test_cli_exits_2_with_one_line_on_a_wrong_layout(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "labels.jsonl").write_text('{"rows": []}\n')
    proc = subprocess.run([sys.executable, "-c", "from codeprm.cli import main; main()", "prm", "train", "--data", str(bad),
                           "--base", str(tmp_path), "--out", str(tmp_path / "o")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "error:" in proc.stderr and "problem_id" in proc.stderr and "Traceback" not in proc.stderr
