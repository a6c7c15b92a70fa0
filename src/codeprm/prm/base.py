"""Resolving ``--base``: a policy spec (``tiny``, ``embedded``, ``hf:PATH``) or a Hugging Face model
directory, to a causal LM and its tokenizer that the reward model fine-tunes."""

from __future__ import annotations

from pathlib import Path

from codeprm.errors import CodeprmError

# Attributes a policy object may keep its model directory under (policies load models differently).
_PATH_ATTRIBUTES = ("model_dir", "model_path", "path", "directory")


def _load_dir(path: Path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    except (OSError, ValueError, KeyError) as exc:
        raise CodeprmError(f"cannot load base model from {path}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    return model, tokenizer


def load_base(spec: str):
    """(causal LM, tokenizer) for ``spec``: a model directory (or ``hf:DIR``) holding config.json, or a
    policy spec whose policy exposes its transformers ``model`` and ``tokenizer`` (or a model directory)."""
    path = Path(spec[3:] if spec.startswith("hf:") else spec)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise CodeprmError(f"base model directory {path} has no config.json")
        return _load_dir(path)
    if spec.startswith("hf:") or "/" in spec or spec.startswith("."):
        raise CodeprmError(f"base model directory {path} does not exist")
    from codeprm.policy.registry import load_policy

    policy = load_policy(spec)
    model, tokenizer = getattr(policy, "model", None), getattr(policy, "tokenizer", None)
    if model is not None and tokenizer is not None and hasattr(model, "base_model"):
        return model, tokenizer
    for name in _PATH_ATTRIBUTES:
        value = getattr(policy, name, None)
        if value and Path(value).is_dir():
            return _load_dir(Path(value))
    raise CodeprmError(f"policy '{spec}' does not expose a transformers model to fine-tune; pass a model directory as --base")
