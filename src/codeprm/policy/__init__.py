"""Policies: embedded SmolLM2, local HF models, OpenAI-compatible endpoints, the reference oracle."""

from codeprm.policy.base import Completion, Policy

__all__ = ["Completion", "Policy"]
