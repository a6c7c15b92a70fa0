"""``HFPolicy``: batched sampling from any local transformers causal LM, with token log-probs for RL.

The decode loop is written out here rather than delegated to ``model.generate`` so that three things RL
depends on are exact and documented in one place:

* **log-probs**: ``log_softmax`` of the model's raw logits (temperature 1, no top-p), in float32, of each
  kept token. This is the quantity a PPO/GRPO update recomputes with a forward pass, whatever
  temperature the sample was drawn at.
* **seeds**: every row (prompt x sample) owns a ``torch.Generator`` seeded from ``(seed, prompt index,
  sample index)``, so a sample does not depend on the batch size or on which prompts share its batch.
* **stops**: a row leaves the batch as soon as its text contains a stop sequence or it emits EOS, and its
  KV cache rows are dropped, so short answers stop costing compute.

Prompts are left-padded, with position ids counted from each row's first real token. A chunk's distinct
prompts are prefilled once and their cache rows copied for the ``n`` samples.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
import torch
from pydantic import Field

from codeprm.config import StrictModel
from codeprm.device import resolve_placement
from codeprm.errors import CodeprmError
from codeprm.policy.base import Completion, Policy
from codeprm.policy.heal import consume
from codeprm.policy.prompts import base_prompt, base_stops, chat_stops, without_trailing_whitespace
from codeprm.policy.stops import find_stop
from codeprm.problems import Problem

DEFAULT_SYSTEM_PROMPT = "You are an expert Python programmer. Answer with a single Python code block."


class HFPolicyConfig(StrictModel):
    """How an ``HFPolicy`` batches and prompts."""

    batch_size: int = Field(default=16, ge=1, description="rows (prompt x sample) decoded together; more rows, more tokens/s, more memory")
    device: str = Field(default="auto", description="torch device; 'auto' takes cuda when available, else cpu")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(default="auto", description="weights dtype; 'auto' keeps float32 on cpu (fastest there) and uses bfloat16 on cuda")
    chat: bool | None = Field(default=None, description="wrap prompts in the tokenizer's chat template; None: when the tokenizer has one")
    system_prompt: str = Field(default=DEFAULT_SYSTEM_PROMPT, description="system message of chat prompts")
    decode_context_tokens: int = Field(default=4, ge=0, description="prompt tokens decoded before the generated ones so tokenizers that drop a leading space (SentencePiece) keep it")


def resolve_device(device: str) -> torch.device:
    return resolve_placement(device).device


def row_seed(seed: int, prompt_index: int, sample_index: int) -> int:
    """A well-mixed 63-bit seed for one row (SeedSequence hashes the triple, so nearby rows differ)."""
    state = np.random.SeedSequence([seed, prompt_index, sample_index]).generate_state(2, np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


@dataclass
class _Row:
    """One sequence being decoded: sample ``sample_index`` of prompt ``prompt_index``."""

    prompt_index: int
    sample_index: int
    generator: torch.Generator | None
    token_ids: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    stop_at: int = -1  # char index of the earliest stop sequence in the decoded text, -1 if none
    eos: bool = False
    searched_to: int = 0  # chars of decoded text already searched for stops
    required: str = ""  # text the next tokens must spell (heal text + newline), see policy/heal.py
    skip: int = 0  # leading chars of the decoded text that belong to the context (the heal text)


class HFPolicy(Policy):
    """A transformers causal LM and its tokenizer behind the ``Policy`` interface."""

    def __init__(self, model, tokenizer, config: HFPolicyConfig | None = None, name: str = "hf"):
        self.config = config or HFPolicyConfig()
        self.name = name
        self.device = resolve_device(self.config.device)
        dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}.get(self.config.dtype)
        if dtype is None:  # auto
            dtype = torch.float32 if self.device.type == "cpu" else torch.bfloat16
        self.model = model.to(device=self.device, dtype=dtype).eval()
        self.tokenizer = tokenizer
        self.chat = self.config.chat if self.config.chat is not None else bool(getattr(tokenizer, "chat_template", None))
        self.pad_id = next(i for i in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0) if i is not None)
        self.eos_ids = self._eos_ids()
        # Prefill needs only the last position's logits; most causal LMs can skip the rest (a vocab-wide
        # matmul per prompt token otherwise).
        params = inspect.signature(model.forward).parameters
        self._prefill_kwargs = {"logits_to_keep": 1} if "logits_to_keep" in params else {}
        # transformers 5 renamed the KV-cache argument ``past_key_values`` to ``cache``.
        self._cache_arg = "cache" if "cache" in params else "past_key_values"

    @classmethod
    def from_pretrained(cls, path: str | Path, config: HFPolicyConfig | None = None, name: str | None = None) -> "HFPolicy":
        """Load a local ``save_pretrained`` directory (never a hub download)."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = Path(path)
        if not (path / "config.json").is_file():
            raise CodeprmError(f"no transformers model at {path} (config.json missing); hf:PATH needs a local save_pretrained directory")
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
        return cls(model, tokenizer, config, name=name or f"hf:{path}")

    def _eos_ids(self) -> set[int]:
        ids = set()
        gen_eos = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        for value in (gen_eos, self.tokenizer.eos_token_id):
            if isinstance(value, int):
                ids.add(value)
            elif value is not None:
                ids.update(value)
        return ids

    # ---- prompting ---------------------------------------------------------------------------------

    def prompt_for(self, problem: Problem) -> str:
        """Chat models: the chat template, then an opened ```python block the model continues (holding
        ``problem.prompt`` for completion-style problems, so ``program = prompt + completion`` still holds).
        Base models: the prompt itself, or the task as a docstring for instruct problems."""
        if not self.chat:
            return base_prompt(problem)
        if problem.style == "completion":
            # The code appears twice (question and answer), which doubles prefill; asking without it made
            # SmolLM2 worse (HumanEval[:40] greedy: 4/40 and 2 syntax errors, against 5/40 and none).
            user = "Complete the following Python function.\n\n```python\n" + problem.prompt.rstrip() + "\n```"
            opening = "```python\n" + without_trailing_whitespace(problem.prompt)
        else:
            hint = "" if problem.entry_point else "\n\nThe program reads standard input and writes standard output."
            user = problem.prompt.strip() + hint
            opening = "```python\n"
        messages = [{"role": "system", "content": self.config.system_prompt}, {"role": "user", "content": user}]
        head = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return head + opening

    def default_stop(self, problem: Problem) -> list[str]:
        return chat_stops(problem) if self.chat else base_stops(problem)

    # ---- generation --------------------------------------------------------------------------------

    def encode(self, prompt: str) -> list[int]:
        """Token ids of a prompt; no second BOS when the text (a chat template) already starts with it."""
        bos = getattr(self.tokenizer, "bos_token", None)
        add_special = not (bos and prompt.startswith(bos))
        return list(self.tokenizer(prompt, add_special_tokens=add_special)["input_ids"])

    def generate(
        self,
        prompts: Sequence[str],
        n: int = 1,
        temperature: float = 0.0,
        top_p: float = 1.0,
        max_new_tokens: int = 256,
        stop: Sequence[str] | None = None,
        seed: int | None = None,
        return_logprobs: bool = False,
    ) -> list[list[Completion]]:
        encoded = [self.encode(p) for p in prompts]
        return self._generate(encoded, [""] * len(prompts), n, temperature, top_p, max_new_tokens, stop, seed, return_logprobs)

    def continue_lines(self, contexts: Sequence[str], n: int = 1, temperature: float = 0.0, top_p: float = 1.0,
                       max_new_tokens: int = 256, stop: Sequence[str] | None = None, seed: int | Sequence[int] | None = None,
                       rounds: int = 4) -> list[list[Completion]]:
        """Continuations that start a new line, by token healing and a masked first step (see
        ``codeprm.policy.heal``): the context's last token is regenerated, constrained to spell its text
        and then a newline (or EOS once only the newline is left)."""
        from codeprm.policy.heal import NEWLINE, Healer

        if getattr(self, "_healer", None) is None:
            self._healer = Healer(self.tokenizer, self.name)
        encoded, heals = [], []
        for context in contexts:
            ids, heal = self._healer.split(self.encode(context), context)
            encoded.append(ids)
            heals.append(heal + NEWLINE)
        return self._generate(encoded, heals, n, temperature, top_p, max_new_tokens, stop, seed, False)

    def _generate(self, encoded: list[list[int]], required: list[str], n: int, temperature: float, top_p: float,
                  max_new_tokens: int, stop: Sequence[str] | None, seed: int | None, return_logprobs: bool) -> list[list[Completion]]:
        """``required[p]``: text the continuation of prompt p must begin with ('' for none), a healed
        token's text plus the newline; it is generated under a mask and left out of the returned text."""
        if n < 1 or temperature < 0 or not 0 < top_p <= 1 or max_new_tokens < 0:
            raise CodeprmError(f"bad sampling settings: n={n}, temperature={temperature}, top_p={top_p}, max_new_tokens={max_new_tokens}")
        stops = [s for s in (stop or []) if s]
        prompts = encoded
        if seed is None:  # drawn from torch's global RNG, so torch.manual_seed also makes calls repeatable
            seed = int(torch.randint(0, 2**62, (1,)).item())
        # A list gives each prompt its own seed: the same samples as a one-prompt call with that seed, so
        # callers can batch prompts whose samples must not depend on the batch (label probes).
        seeds = list(seed) if isinstance(seed, (list, tuple)) else None
        sampling = temperature > 0
        # Rows sorted by prompt length so a chunk wastes little padding; results go back by index.
        order = sorted(((p, s) for p in range(len(prompts)) for s in range(n)), key=lambda ps: (len(encoded[ps[0]]), ps))
        results: list[list[Completion | None]] = [[None] * n for _ in prompts]
        for start in range(0, len(order), self.config.batch_size):
            rows = []
            for p, s in order[start : start + self.config.batch_size]:
                generator = None
                if sampling:
                    generator = torch.Generator(device=self.device).manual_seed(row_seed(seeds[p], 0, s) if seeds else row_seed(seed, p, s))
                skip = max(0, len(required[p]) - 1)  # the heal text, regenerated but not returned
                rows.append(_Row(p, s, generator, required=required[p], skip=skip))
            self._decode_chunk(rows, encoded, temperature, top_p, max_new_tokens, stops, return_logprobs)
            for row in rows:
                results[row.prompt_index][row.sample_index] = self._finish(row, encoded[row.prompt_index], stops, return_logprobs)
        return results  # type: ignore[return-value]

    @torch.inference_mode()
    def _decode_chunk(self, rows: list[_Row], encoded, temperature, top_p, max_new_tokens, stops, want_logprobs: bool) -> None:
        if max_new_tokens == 0 or not rows:
            return
        distinct = sorted({row.prompt_index for row in rows})
        width = max(len(encoded[p]) for p in distinct)
        ids = torch.full((len(distinct), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(distinct), width), dtype=torch.long)
        for i, p in enumerate(distinct):  # left padding: real tokens end at the right edge
            ids[i, width - len(encoded[p]) :] = torch.tensor(encoded[p])
            mask[i, width - len(encoded[p]) :] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True, **self._prefill_kwargs)
        cache = _cache_of(out)
        # Copy each distinct prompt's cache row to its n samples.
        expand = torch.tensor([distinct.index(row.prompt_index) for row in rows], device=self.device)
        cache.batch_select_indices(expand)
        logits = out.logits[:, -1, :].float()[expand]  # (B, V)
        mask, last_pos = mask[expand], positions[expand, -1]
        detok = {p: _Detokenizer(self.tokenizer, encoded[p][-self.config.decode_context_tokens :] if self.config.decode_context_tokens else []) for p in distinct}
        max_stop = max((len(s) for s in stops), default=0)

        active = list(rows)  # rows still decoding, in the batch order of `logits` and the cache
        for step in range(max_new_tokens):
            if any(row.required for row in active):
                logits = self._constrain(logits, active)
            tokens = self._choose(logits, active, temperature, top_p)  # (A,)
            chosen_lp = torch.log_softmax(logits, dim=-1).gather(-1, tokens[:, None])[:, 0].tolist() if want_logprobs else [0.0] * len(active)
            still = []
            for j, (row, token) in enumerate(zip(active, tokens.tolist())):
                row.token_ids.append(token)
                row.logprobs.append(chosen_lp[j])
                if row.required:
                    row.required = "" if token in self.eos_ids else consume(row.required, self._healer.texts[token])
                if token in self.eos_ids:
                    row.eos = True
                elif stops:
                    text = detok[row.prompt_index].decode(row.token_ids)
                    row.stop_at = find_stop(text, stops, max(row.skip, row.searched_to - max_stop + 1))
                    row.searched_to = len(text)
                if not row.eos and row.stop_at == -1:
                    still.append(j)
            if not still or step == max_new_tokens - 1:
                break
            if len(still) < len(active):  # drop finished rows from the batch and the cache
                keep = torch.tensor(still, device=self.device)
                cache.batch_select_indices(keep)
                mask, last_pos, tokens = mask[keep], last_pos[keep], tokens[keep]
                active = [active[j] for j in still]
            mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=-1)
            last_pos = last_pos + 1
            out = self.model(input_ids=tokens[:, None], attention_mask=mask, position_ids=last_pos[:, None], use_cache=True, **{self._cache_arg: cache})
            cache = _cache_of(out)
            logits = out.logits[:, -1, :].float()

    def _constrain(self, logits: torch.Tensor, rows: list[_Row]) -> torch.Tensor:
        """Logits with every token that would leave a row's required text masked out."""
        logits = logits.clone()
        for j, row in enumerate(rows):
            if row.required:
                allowed = self._healer.mask(row.required, logits.shape[-1], self.eos_ids, logits.device)
                logits[j] = logits[j].masked_fill(~allowed, float("-inf"))
        return logits

    def _choose(self, logits: torch.Tensor, rows: list[_Row], temperature: float, top_p: float) -> torch.Tensor:
        """Next token of each row: argmax at temperature 0, else a top-p sample drawn with the row's own
        generator (a loop over rows, cheap next to the forward pass, buys batch-independent samples)."""
        if temperature == 0:
            return logits.argmax(dim=-1)
        probs = torch.softmax(logits / temperature, dim=-1)
        if top_p < 1.0:
            sorted_p, order = probs.sort(dim=-1, descending=True)
            outside = sorted_p.cumsum(-1) - sorted_p >= top_p  # mass before the token already reaches top_p
            sorted_p = sorted_p.masked_fill(outside, 0.0)
            probs = torch.zeros_like(probs).scatter(-1, order, sorted_p)
        return torch.cat([torch.multinomial(probs[j], 1, generator=row.generator) for j, row in enumerate(rows)])

    def _finish(self, row: _Row, prompt_ids: list[int], stops: Sequence[str], return_logprobs: bool) -> Completion:
        """Text cut at the earliest stop; with log-probs, the shortest token prefix whose text covers it.

        When a stop sequence begins inside a token, that token is kept (so ``decode(token_ids)`` may run a
        few characters past ``text``, into the stop); tokens lying wholly inside the stop are dropped. An
        EOS token ends the row and is kept in ``token_ids`` (it is the action that ended the answer) but
        never appears in ``text``."""
        detok = _Detokenizer(self.tokenizer, prompt_ids[-self.config.decode_context_tokens :] if self.config.decode_context_tokens else [])
        ids, lps = row.token_ids, row.logprobs
        generated = len(ids)
        if row.eos:
            text, reason = detok.decode(ids[:-1]), "stop"
        else:
            text = detok.decode(ids)
            at = find_stop(text, stops, row.skip) if stops else -1
            if at != -1:
                text, reason = text[:at], "stop"
                keep = len(ids)
                while keep > 0 and len(detok.decode(ids[: keep - 1])) >= at:
                    keep -= 1
                ids, lps = ids[:keep], lps[:keep]
            else:
                reason = "length"
        meta = {"generated_tokens": generated}
        text = text[row.skip:]  # the heal text is the context's, not the continuation's
        if return_logprobs:
            return Completion(text=text, token_ids=list(ids), logprobs=list(lps), finish_reason=reason, meta=meta)
        return Completion(text=text, finish_reason=reason, meta=meta)


def _cache_of(out):
    cache = getattr(out, "cache", None)
    return out.past_key_values if cache is None else cache


class _Detokenizer:
    """Decodes generated ids after a few prompt tokens and strips their text, so tokenizers that drop
    the leading space of a sequence's first token (SentencePiece) decode a continuation faithfully."""

    def __init__(self, tokenizer, context_ids: list[int]):
        self.tokenizer = tokenizer
        self.context_ids = list(context_ids)
        self.context_text = self._decode(self.context_ids)

    def decode(self, ids: list[int]) -> str:
        return self._decode(self.context_ids + list(ids))[len(self.context_text) :]

    def _decode(self, ids: list[int]) -> str:
        # No clean-up of "tokenization spaces": it rewrites " ." to "." and so corrupts code.
        return self.tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
