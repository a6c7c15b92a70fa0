"""The process reward model: a causal LM backbone and a scalar head read at the end of each line.

One class serves two modes. ``prm`` reads the head at the last token of every non-neutral completion
line (one score per line); ``orm``, the outcome-reward baseline, reads it once at the last token of the
program. Same backbone, same head, same training loop: only where the head is read and what it is
trained on differ.

On disk (``save_pretrained``) the backbone is a plain Hugging Face causal LM (config.json,
model.safetensors, tokenizer files; LoRA weights merged in) so the RL critic, or any transformers code,
can start from it; beside it ``value_head.safetensors`` and ``prm_config.json``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Literal, Sequence

import torch
from pydantic import BaseModel, Field, ValidationError
from torch import nn

from codeprm.errors import CodeprmError
from codeprm.labels.lines import is_neutral, split_lines
from codeprm.prm.positions import Encoded, encode_with_lines

HEAD_FILE = "value_head.safetensors"
CONFIG_FILE = "prm_config.json"


class PRMConfig(BaseModel):
    """What a reward-model checkpoint is, stored as ``prm_config.json``."""

    mode: Literal["prm", "orm"] = Field(default="prm", description="prm: one score per line; orm: one score per program (baseline)")
    loss: Literal["mse", "bce"] = Field(default="bce", description="mse: regression on targets in [-1, 1], scores are raw head outputs; bce: classification, scores are probabilities")
    label_format: Literal["hard", "soft", "mixed", "outcome"] = Field(default="hard", description="labels trained on: hard (+1/-1), soft (MC values in [0, 1]), mixed, or outcome (pass/fail, ORM)")
    base_model: str = Field(default="", description="the base the backbone was fine-tuned from (a policy spec or a model directory)")
    max_length: int = Field(default=2048, ge=8, description="tokens read per text; lines past it get no score")
    lora: dict | None = Field(default=None, description="LoRA settings used in training (merged into the saved backbone), or None for full fine-tuning")

    @property
    def threshold(self) -> float:
        """The score below which a line is predicted wrong: 0 for mse (targets ±1), 0.5 for bce."""
        return 0.5 if self.loss == "bce" else 0.0


def _hidden_size(backbone) -> int:
    config = backbone.config
    if hasattr(config, "get_text_config"):
        config = config.get_text_config()
    return int(config.hidden_size)


class ProcessRewardModel(nn.Module):
    def __init__(self, backbone, tokenizer, config: PRMConfig):
        super().__init__()
        self.backbone = backbone  # a transformers causal LM, or a peft model wrapping one (LoRA)
        self.tokenizer = tokenizer
        self.config = config
        self.value_head = nn.Linear(_hidden_size(backbone), 1)
        nn.init.normal_(self.value_head.weight, std=1.0 / _hidden_size(backbone) ** 0.5)
        nn.init.zeros_(self.value_head.bias)
        if tokenizer.pad_token_id is None:  # padding positions are masked out; any id will do
            tokenizer.pad_token = tokenizer.eos_token if tokenizer.eos_token is not None else tokenizer.unk_token

    # ------------------------------------------------------------------ building and saving
    @classmethod
    def from_backbone(cls, backbone, tokenizer, config: PRMConfig, lora_r: int | None = None,
                      lora_alpha: int = 16, lora_dropout: float = 0.0) -> "ProcessRewardModel":
        """A fresh reward model on a backbone; with ``lora_r`` the backbone is frozen and LoRA adapters
        on all its linear layers (not the LM head) train instead."""
        backbone = backbone.float()
        if lora_r:
            from peft import LoraConfig, get_peft_model

            lora = LoraConfig(r=lora_r, lora_alpha=lora_alpha, lora_dropout=lora_dropout, target_modules="all-linear")
            backbone = get_peft_model(backbone, lora)
            config = config.model_copy(update={"lora": {"r": lora_r, "alpha": lora_alpha, "dropout": lora_dropout}})
        return cls(backbone, tokenizer, config)

    def causal_lm(self):
        """The transformers causal LM (inside the peft wrapper when LoRA is on)."""
        return self.backbone.get_base_model() if hasattr(self.backbone, "get_base_model") else self.backbone

    def save_pretrained(self, directory: str | Path) -> None:
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        backbone = self.backbone
        if hasattr(backbone, "merge_and_unload"):  # LoRA: save a plain model, leave the training copy as it is
            backbone = copy.deepcopy(backbone).merge_and_unload()
        backbone.save_pretrained(directory)
        self.tokenizer.save_pretrained(directory)
        head = {"weight": self.value_head.weight.detach().cpu().contiguous(), "bias": self.value_head.bias.detach().cpu().contiguous()}
        save_file(head, str(directory / HEAD_FILE))
        (directory / CONFIG_FILE).write_text(self.config.model_dump_json(indent=2) + "\n", encoding="utf-8")

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> "ProcessRewardModel":
        from safetensors.torch import load_file
        from transformers import AutoModelForCausalLM, AutoTokenizer

        directory = Path(directory)
        if not (directory / CONFIG_FILE).is_file() or not (directory / HEAD_FILE).is_file():
            raise CodeprmError(f"{directory} is not a reward model: it lacks {CONFIG_FILE} or {HEAD_FILE}")
        try:
            config = PRMConfig.model_validate_json((directory / CONFIG_FILE).read_text(encoding="utf-8"))
        except ValidationError as exc:
            raise CodeprmError(f"{directory / CONFIG_FILE} is invalid: {exc.errors()[0]['msg']}") from None
        try:
            backbone = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32)
            tokenizer = AutoTokenizer.from_pretrained(directory)
        except (OSError, ValueError) as exc:
            raise CodeprmError(f"cannot load the backbone in {directory}: {str(exc).splitlines()[0]}") from None
        model = cls(backbone, tokenizer, config)
        head = load_file(str(directory / HEAD_FILE))
        model.value_head.load_state_dict(head)
        model.eval()
        return model

    # ------------------------------------------------------------------ reading the head
    def encode(self, prompt: str, completion: str) -> Encoded:
        return encode_with_lines(self.tokenizer, prompt + completion, len(prompt), self.config.max_length)

    def read_positions(self, encoded: Encoded) -> list[int]:
        """Token positions the head is read at: one per line that has a position (prm), or the last
        token (orm). For prm, callers pick which lines they need from ``encoded.line_positions``."""
        if self.config.mode == "orm":
            return [len(encoded.input_ids) - 1]
        return [p for p in encoded.line_positions if p is not None]

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, batch_index: torch.Tensor,
                token_index: torch.Tensor) -> torch.Tensor:
        """Raw head values (logits for bce) at the (batch_index[i], token_index[i]) pairs, shape (P,)."""
        device = self.value_head.weight.device  # collate builds CPU tensors; the model may sit on a GPU
        input_ids, attention_mask = input_ids.to(device), attention_mask.to(device)
        batch_index, token_index = batch_index.to(device), token_index.to(device)
        # base_model is the transformer without the LM head: no vocabulary-sized logits to compute.
        hidden = self.causal_lm().base_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, T, H)
        picked = hidden[batch_index, token_index]  # (P, H)
        return self.value_head(picked).squeeze(-1).float()  # (P,) float32 also under bf16 autocast

    def to_scores(self, values: torch.Tensor) -> torch.Tensor:
        """Head values as scores: probabilities for bce, the raw regression output for mse."""
        return torch.sigmoid(values) if self.config.loss == "bce" else values

    def collate(self, encoded: Sequence[Encoded], positions: Sequence[Sequence[int]]):
        """Right-padded batch tensors and the flat (batch, token) index pairs of ``positions``."""
        width = max(len(e.input_ids) for e in encoded)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.full((len(encoded), width), pad, dtype=torch.long)
        attention_mask = torch.zeros((len(encoded), width), dtype=torch.long)
        for i, e in enumerate(encoded):
            input_ids[i, : len(e.input_ids)] = torch.tensor(e.input_ids)
            attention_mask[i, : len(e.input_ids)] = 1
        batch_index = torch.tensor([i for i, ps in enumerate(positions) for _ in ps], dtype=torch.long)
        token_index = torch.tensor([p for ps in positions for p in ps], dtype=torch.long)
        return input_ids, attention_mask, batch_index, token_index

    @torch.no_grad()
    def _read(self, encoded: Sequence[Encoded], positions: Sequence[Sequence[int]], batch_size: int) -> list[list[float]]:
        """Scores at the given positions of each encoded text, batched by similar length."""
        was_training = self.training
        self.eval()
        out: list[list[float]] = [[] for _ in encoded]
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i].input_ids))
        for start in range(0, len(order), batch_size):
            chunk = [i for i in order[start : start + batch_size] if positions[i]]
            if not chunk:
                continue
            tensors = self.collate([encoded[i] for i in chunk], [positions[i] for i in chunk])
            scores = self.to_scores(self(*tensors)).tolist()
            cursor = 0
            for i in chunk:
                out[i] = scores[cursor : cursor + len(positions[i])]
                cursor += len(positions[i])
        self.train(was_training)
        return out

    def score_many(self, prompts: Sequence[str], completions: Sequence[str], batch_size: int = 8,
                   line_masks: Sequence[Sequence[bool]] | None = None) -> list[list[float | None]]:
        """Per completion, one score per physical line: a float for each scored line, None for neutral
        lines (blank or comment-only; or, with ``line_masks``, lines whose mask is False) and for lines
        past ``max_length``. Higher means more likely correct so far."""
        if self.config.mode != "prm":
            raise CodeprmError("this is an outcome reward model: it scores programs (score_programs), not lines")
        encoded = [self.encode(p, c) for p, c in zip(prompts, completions)]
        wanted: list[list[int]] = []  # line indices read per text
        for k, (e, completion) in enumerate(zip(encoded, completions)):
            lines = split_lines(completion)
            mask = line_masks[k] if line_masks is not None else [not is_neutral(line) for line in lines]
            if len(mask) != len(lines):
                raise CodeprmError(f"line mask {k} has {len(mask)} entries for {len(lines)} lines")
            wanted.append([i for i, keep in enumerate(mask) if keep and e.line_positions[i] is not None])
        positions = [[e.line_positions[i] for i in idx] for e, idx in zip(encoded, wanted)]
        read = self._read(encoded, positions, batch_size)
        result: list[list[float | None]] = []
        for completion, idx, scores in zip(completions, wanted, read):
            row: list[float | None] = [None] * len(split_lines(completion))
            for i, s in zip(idx, scores):
                row[i] = s
            result.append(row)
        return result

    def score(self, prompt_text: str, completion: str) -> list[float | None]:
        """One score per physical line of ``completion`` (None for neutral lines)."""
        return self.score_many([prompt_text], [completion])[0]

    def score_programs(self, prompts: Sequence[str], completions: Sequence[str], batch_size: int = 8) -> list[float]:
        """Outcome-model scores, one per program, read at its last token (orm mode)."""
        if self.config.mode != "orm":
            raise CodeprmError("this is a line-level reward model: use score_many, or aggregate its line scores")
        encoded = [self.encode(p, c) for p, c in zip(prompts, completions)]
        return [s[0] for s in self._read(encoded, [[len(e.input_ids) - 1] for e in encoded], batch_size)]


def load_reward_model(directory: str | Path, mode: str | None = None) -> ProcessRewardModel:
    """``from_pretrained`` that also checks the checkpoint is of the expected mode."""
    model = ProcessRewardModel.from_pretrained(directory)
    if mode is not None and model.config.mode != mode:
        raise CodeprmError(f"{directory} holds a {model.config.mode.upper()}, expected a {mode.upper()}")
    return model
