"""Continuing a prefix at a line boundary, the way the tokenizer would have written it.

A probe asks the policy to continue ``prompt + prefix`` where the prefix ends after a complete line. The
naive context ends in a bare ``"\\n"``, which BPE tokenizers never produce mid-code (they write the
newline together with the next line's indentation, ``"\\n    "``, as one token), so after it a model
almost always ends the program. Here the context is cut *before* that newline and the continuation must
start a new line (or end the program right there):

* **token healing**: the context's last token is removed and regenerated, so the model never continues
  from a token boundary it would not have chosen (``h``, the removed text, is the *heal text*);
* **a forced new line**: the first tokens are masked to those consistent with ``h + "\\n"`` (a token
  whose text is a prefix of what is still required, or starts with all of it); EOS is allowed once
  only the newline is left (the program ends after the line).

Masking the first tokens samples exactly from the policy's distribution *conditioned on* the
continuation starting a new line; ``Policy.continue_lines`` (rejection sampling, for backends without
token access such as an OpenAI-compatible server) samples from the same conditional distribution.
"""

from __future__ import annotations

from typing import Sequence

import torch

from codeprm.errors import CodeprmError

NEWLINE = "\n"


def token_texts(tokenizer) -> list[str]:
    """Each token id's text, decoded alone (cached on the tokenizer object). Special tokens are ''."""
    cached = getattr(tokenizer, "_codeprm_token_texts", None)
    if cached is not None:
        return cached
    size = len(tokenizer)
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    texts = tokenizer.batch_decode([[i] for i in range(size)], skip_special_tokens=False, clean_up_tokenization_spaces=False)
    texts = ["" if i in special else t for i, t in enumerate(texts)]
    try:
        tokenizer._codeprm_token_texts = texts
    except AttributeError:  # a tokenizer that refuses new attributes: recomputed on each call
        pass
    return texts


def allowed(required: str, texts: Sequence[str]) -> list[int]:
    """Token ids that keep a continuation on track to begin with ``required``."""
    return [i for i, t in enumerate(texts) if t and (required.startswith(t) or t.startswith(required))]


def consume(required: str, text: str) -> str:
    """What is still required after a token with ``text`` was generated."""
    return required[len(text):] if required.startswith(text) else ""


class Healer:
    """Heals contexts for one tokenizer: ``split(ids, context)`` -> (head ids, heal text)."""

    def __init__(self, tokenizer, name: str = "policy") -> None:
        self.tokenizer = tokenizer
        self.name = name
        self.texts = token_texts(tokenizer)
        self._mask_cache: dict[str, torch.Tensor] = {}
        if not any(NEWLINE in t for t in self.texts):
            raise CodeprmError(f"the tokenizer of policy '{name}' has no token holding a newline: a prefix cannot be continued on a new line")

    def split(self, ids: list[int], context: str) -> tuple[list[int], str]:
        """Drop the context's last token and return (the remaining ids, the dropped text). Falls back to
        no healing when the dropped text cannot be regenerated token by token (rare non-ASCII splits)."""
        if len(ids) >= 2:
            head = self.tokenizer.decode(ids[:-1], skip_special_tokens=True, clean_up_tokenization_spaces=False)
            full = self.tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
            heal = full[len(head):] if full.startswith(head) else ""
            if heal and context.endswith(heal) and NEWLINE not in heal and allowed(heal + NEWLINE, self.texts):
                return ids[:-1], heal
        if not allowed(NEWLINE, self.texts):
            raise CodeprmError(f"the tokenizer of policy '{self.name}' has no token starting with a newline: its line boundary cannot be healed")
        return ids, ""

    def mask(self, required: str, vocab: int, eos_ids: set[int], device) -> torch.Tensor:
        """(vocab,) bool: the tokens allowed while ``required`` is pending; EOS once only the newline is."""
        key = required
        if key not in self._mask_cache:
            m = torch.zeros(vocab, dtype=torch.bool)
            ids = [i for i in allowed(required, self.texts) if i < vocab]
            if ids:
                m[torch.tensor(ids)] = True
            if required == NEWLINE:
                for e in eos_ids:
                    if e < vocab:
                        m[e] = True
            if not m.any():
                raise CodeprmError(f"the tokenizer of policy '{self.name}' cannot write {required!r}: its line boundary cannot be healed")
            if len(self._mask_cache) > 256:
                self._mask_cache.clear()
            self._mask_cache[key] = m
        return self._mask_cache[key].to(device)


def _ends_block(text: str) -> bool:
    """A token that opens a closing code fence (chat policies end their program with it)."""
    return text.lstrip(" \t\n").startswith("`")


@torch.inference_mode()
def _next_probs(policy, ids: list[int]) -> torch.Tensor:
    ids_t = torch.tensor([ids], device=policy.device)
    return torch.softmax(policy.model(input_ids=ids_t).logits[0, -1].float(), dim=-1).cpu()


def end_probabilities(policy, contexts: Sequence[str], top_whitespace: int = 3) -> list[float]:
    """For each context (ending at the end of a line, no newline), the probability that the program ends
    right there, given that the continuation leaves the line as it is (what ``continue_lines`` samples
    from): EOS, a first token that starts a new line and opens the closing fence (chat policies), or a
    whitespace-only newline token followed by a fence (the ``top_whitespace`` likeliest such tokens are
    followed one step further), over the mass of EOS and all newline-starting tokens."""
    healer = Healer(policy.tokenizer, policy.name)
    texts = healer.texts
    newline = [i for i, t in enumerate(texts) if t.startswith(NEWLINE)]
    fence_now = torch.tensor([i for i in newline if _ends_block(texts[i])] or [0])
    has_fence_now = any(_ends_block(texts[i]) for i in newline)
    blank = torch.tensor([i for i in newline if not texts[i].strip()])
    fence = torch.tensor([i for i, t in enumerate(texts) if _ends_block(t)])
    eos = torch.tensor(sorted(policy.eos_ids))
    out = []
    for context in contexts:
        ids = policy.encode(context)
        probs = _next_probs(policy, ids)
        p_end = probs[eos].sum().item() + (probs[fence_now].sum().item() if has_fence_now else 0.0)
        p_blank = probs[blank]
        for j in torch.topk(p_blank, min(top_whitespace, len(blank))).indices.tolist():
            token = int(blank[j])
            p_end += probs[token].item() * _next_probs(policy, ids + [token])[fence].sum().item()
        out.append(p_end / (probs[eos].sum().item() + probs[torch.tensor(newline)].sum().item()))
    return out


def end_probabilities_after_bare_newline(policy, contexts: Sequence[str]) -> list[float]:
    """p(EOS or a closing fence next | ``context + "\n"``): the old probe context, for contrast."""
    texts = token_texts(policy.tokenizer)
    ends = torch.tensor(sorted(policy.eos_ids) + [i for i, t in enumerate(texts) if _ends_block(t)])
    return [_next_probs(policy, policy.encode(context + NEWLINE))[ends].sum().item() for context in contexts]
