"""codeprm.prm: the line-level process reward model (a causal LM with a scalar head read at each
line's last token), its training, scoring and evaluation. See README.md in this folder."""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["ProcessRewardModel", "load_reward_model"]

if TYPE_CHECKING:
    from codeprm.prm.model import ProcessRewardModel, load_reward_model


def __getattr__(name: str):
    # torch/transformers load only when the model is asked for, not on ``import codeprm.prm``
    if name in __all__:
        from codeprm.prm import model

        return getattr(model, name)
    raise AttributeError(f"module 'codeprm.prm' has no attribute '{name}'")
