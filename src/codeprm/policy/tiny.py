"""The *tiny* policy: a few-million-parameter Llama trained from scratch on ``synth:train``.

It exists so every stage (labels, PRM, RL) can be exercised end to end on a CPU in minutes, with a policy
that solves some held-out problems but not all. It lives in ``$CODEPRM_CACHE/tiny`` (default
``~/.cache/codeprm/tiny``) as a ``save_pretrained`` directory and is served by ``HFPolicy``.
"""

from __future__ import annotations

import os
from pathlib import Path


from codeprm.config import build
from codeprm.errors import CodeprmError
from codeprm.policy.base import Policy


def cache_root() -> Path:
    """codeprm's cache directory: ``$CODEPRM_CACHE``, else ``~/.cache/codeprm``."""
    return Path(os.environ.get("CODEPRM_CACHE") or Path.home() / ".cache" / "codeprm").expanduser()


# Named tiny policies: SFTConfig fields over the defaults. "tiny-habits" learns the references *and* a
# line-local error rate (each body line of a training copy replaced, p = 0.25, by a one-line mutant), the
# starting policy of docs/experiments/rl_mechanism: RL on fresh problems can remove the habit.
VARIANTS: dict[str, dict] = {"tiny": {}, "tiny-habits": {"mutate_line_prob": 0.25, "mutation_copies": 4, "steps": 400}}


def tiny_dir(variant: str = "tiny") -> Path:
    return cache_root() / variant


def is_trained(path: Path | None = None) -> bool:
    path = tiny_dir() if path is None else path
    return (path / "config.json").is_file() and (path / "tokenizer.json").is_file()


def load_tiny(train_if_missing: bool = True, path: str | Path | None = None, variant: str = "tiny", **options) -> Policy:
    """The tiny policy (or a named variant); trains it first (a few minutes on two cores) when it is not
    cached yet. ``options`` are ``HFPolicyConfig`` fields (batch_size, device, ...)."""
    from codeprm.policy.hf import HFPolicy, HFPolicyConfig

    if variant not in VARIANTS:
        raise CodeprmError(f"unknown tiny policy '{variant}'; known: {', '.join(VARIANTS)}")
    model_dir = tiny_dir(variant) if path is None else Path(path).expanduser()
    if not is_trained(model_dir):
        if not train_if_missing:
            raise CodeprmError(f"no tiny model at {model_dir}; train it with `codeprm sft`" + (f" --variant {variant}" if variant != "tiny" else ""))
        _train_once(model_dir, variant)
    # Chat off: the tokenizer has no template, and the model continues raw code.
    config = build(HFPolicyConfig, {"chat": False, "batch_size": 32, **options}, source="policy options")
    return HFPolicy.from_pretrained(model_dir, config, name=variant)


def _train_once(model_dir: Path, variant: str = "tiny") -> None:
    """Train the default tiny model unless another process does it first: a file lock makes concurrent
    callers wait for the one training run instead of each starting their own."""
    import fcntl
    import sys

    from codeprm.policy.sft import SFTConfig, train_sft

    model_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(model_dir.parent / f".{model_dir.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_trained(model_dir):
            return
        print(f"training the tiny policy into {model_dir} (about ten minutes; `codeprm sft` does this with a progress bar)", file=sys.stderr)
        train_sft(SFTConfig(**VARIANTS[variant]), model_dir)
