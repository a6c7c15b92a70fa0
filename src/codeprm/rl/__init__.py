"""codeprm.rl: PPO / GRPO / RLOO with outcome or dense line rewards.

``train(config) -> summary`` runs (or resumes) a run; ``config`` is an ``RLConfig``, a dict of its
fields, or a YAML path. The loop is ``trainer``; its pieces ``setup``, ``rollout``, ``update``,
``evaluation``, ``core_algos`` (the math), ``rewards`` (shaping), ``components`` (critic, verifier,
checkpoints), ``device`` (placement and precision). See README.md.
"""

from __future__ import annotations

from pathlib import Path

from codeprm.rl.config import AlgorithmConfig, RewardConfig, RLConfig, build_config


def train(config: "RLConfig | dict | str | Path", **components) -> dict:
    """Run RL; see ``codeprm.rl.trainer.train`` for the optional component overrides."""
    from codeprm.rl.trainer import train as _train

    if isinstance(config, (str, Path)):
        config = RLConfig.from_yaml(config)
    elif isinstance(config, dict):
        config = build_config(config)
    return _train(config, **components)


__all__ = ["train", "RLConfig", "RewardConfig", "AlgorithmConfig", "build_config"]
