"""Policies: embedded SmolLM2, local HF models, OpenAI-compatible endpoints, the reference oracle."""

from codeprm.policy.base import Completion, Policy
from codeprm.policy.registry import POLICY_SPECS, load_policy

__all__ = ["Completion", "Policy", "POLICY_SPECS", "load_policy"]
