"""The PRM in the layout other trainers' critics load (``codeprm prm export``).

``verl-critic``: a transformers ``*ForTokenClassification`` model with one label, which is what verl's
critic loads (``critic.model.path=DIR``; verl reads it with ``AutoModelForTokenClassification`` and
``num_labels=1``). Its backbone is the PRM's and its ``score`` layer is the PRM's value head, so the
critic's value at a line's last token is the PRM's raw head output there: the logit of the line score
for a BCE-trained PRM (``sigmoid`` gives ``ProcessRewardModel.score``), the score itself for MSE. This is
PSGPO's critic initialised from the PRM; as with ``codeprm rl --critic-init prm``, the values start on
the PRM's scale, not the return's (verl's ``trainer.critic_warmup`` steps fit the critic before the
actor moves).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from codeprm.errors import CodeprmError
from codeprm.prm.model import load_reward_model

FORMATS = ("verl-critic",)


@torch.no_grad()
def export_critic(model_dir: str | Path, out: str | Path, fmt: str = "verl-critic") -> Path:
    """Write the PRM at ``model_dir`` as a one-label token-classification model under ``out``."""
    from transformers import AutoModelForTokenClassification

    if fmt not in FORMATS:
        raise CodeprmError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    prm = load_reward_model(model_dir, mode="prm")
    config = prm.causal_lm().config
    config.num_labels = 1
    config.architectures = None  # from_config sets the token-classification class name on save
    critic = AutoModelForTokenClassification.from_config(config, dtype=torch.float32)
    missing = critic.base_model.load_state_dict(prm.causal_lm().base_model.state_dict())
    if missing.missing_keys or missing.unexpected_keys:
        raise CodeprmError(f"the PRM backbone does not fit {type(critic).__name__}: {missing}")
    if critic.score.bias is None:
        raise CodeprmError(f"{type(critic).__name__} has no bias on its score layer; the PRM head needs one")
    critic.score.weight.copy_(prm.value_head.weight)
    critic.score.bias.copy_(prm.value_head.bias)
    out = Path(out)
    critic.save_pretrained(out)
    prm.tokenizer.save_pretrained(out)
    note = {"format": fmt, "from": str(model_dir), "prm": prm.config.model_dump(),
            "value": "raw head output: the logit of the line score (bce) or the score (mse)"}
    (out / "codeprm_export.json").write_text(json.dumps(note, indent=2) + "\n", encoding="utf-8")
    return out
