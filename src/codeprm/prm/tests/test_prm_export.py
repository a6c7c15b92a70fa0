"""``codeprm prm export --format verl-critic``: loaded by verl's own critic loader (``load_valuehead_model``
with the config fields verl's FSDP engine sets), its values at line ends are the PRM's line scores."""

import pytest
import torch
from typer.testing import CliRunner

from codeprm.cli import app
from codeprm.prm.model import PRMConfig, ProcessRewardModel, load_reward_model
from codeprm.prm.tests.tiny import GOOD, BAD, tiny_model, tiny_tokenizer


def test_verl_critic_export_loads_in_verls_critic_code_and_reads_the_prm_scores(tmp_path, monkeypatch):
    pytest.importorskip("verl", reason="the 'verl' extra is not installed")
    from transformers import AutoConfig, AutoModelForTokenClassification
    from verl.utils.model import load_valuehead_model

    tok = tiny_tokenizer()
    ProcessRewardModel.from_backbone(tiny_model(len(tok), seed=3), tok, PRMConfig(mode="prm")).save_pretrained(tmp_path / "prm")
    result = CliRunner().invoke(app, ["prm", "export", "--model", str(tmp_path / "prm"), "--format", "verl-critic", "-o", str(tmp_path / "critic")])
    assert result.exit_code == 0, result.output

    # verl asks for flash_attention_2, which needs CUDA; on this CPU the same weights run with sdpa
    real = AutoModelForTokenClassification.from_pretrained.__func__
    monkeypatch.setattr(AutoModelForTokenClassification, "from_pretrained",
                        classmethod(lambda cls, *a, **kw: real(cls, *a, **{**kw, "attn_implementation": "sdpa"})))
    config = AutoConfig.from_pretrained(tmp_path / "critic")
    config.num_labels, config.classifier_dropout, config.hidden_dropout, config.summary_dropout_prob = 1, 0.0, "0", 0.0  # as verl's engine
    critic = load_valuehead_model(local_path=str(tmp_path / "critic"), torch_dtype=torch.float32, model_config=config, trust_remote_code=False)
    assert type(critic).__name__ == "LlamaForTokenClassification"

    prm = load_reward_model(tmp_path / "prm")
    prompt = "def f(xs):\n"
    for completion in (GOOD, BAD):
        encoded = prm.encode(prompt, completion)
        with torch.no_grad():
            values = critic(input_ids=torch.tensor([encoded.input_ids])).logits[0, :, 0]  # (T,) the critic's values
        read = [torch.sigmoid(values[p]).item() if p is not None else None for p in encoded.line_positions]
        expected = prm.score(prompt, completion)
        scored = [(r, e) for r, e in zip(read, expected) if e is not None]
        assert len(scored) >= 4 and all(abs(r - e) < 1e-5 for r, e in scored), (read, expected)
        assert len({round(e, 4) for _, e in scored}) > 1  # a real signal, not a constant head


def test_export_refuses_an_unknown_format_and_an_orm(tmp_path):
    from codeprm.errors import CodeprmError

    tok = tiny_tokenizer()
    ProcessRewardModel.from_backbone(tiny_model(len(tok)), tok, PRMConfig(mode="orm")).save_pretrained(tmp_path / "orm")
    bad = CliRunner().invoke(app, ["prm", "export", "--model", str(tmp_path / "orm"), "-f", "onnx", "-o", str(tmp_path / "x")])
    assert isinstance(bad.exception, CodeprmError) and "verl-critic" in str(bad.exception)
    orm = CliRunner().invoke(app, ["prm", "export", "--model", str(tmp_path / "orm"), "-o", str(tmp_path / "x")])
    assert isinstance(orm.exception, CodeprmError) and "ORM" in str(orm.exception)
