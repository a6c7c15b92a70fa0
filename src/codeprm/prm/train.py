"""Training a process (or outcome) reward model on label rows.

Validation is split by problem; the best epoch by validation loss is saved to OUT in the
``save_pretrained`` layout; training stops after ``patience`` epochs without improvement. Every epoch
writes ``OUT/checkpoint/last.pt`` (trainable weights, optimizer state, RNG, history), so rerunning the
same command after an interruption continues with the next epoch instead of starting over.
TensorBoard event files go to ``OUT/tb``.
"""

from __future__ import annotations

import math
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Sequence

import torch
import torch.nn.functional as F
from pydantic import Field
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from codeprm.config import StrictModel
from codeprm.device import resolve_placement
from codeprm.errors import CodeprmError
from codeprm.prm.data import LabelRow, label_format, line_target, load_label_rows, outcome_target, split_by_problem
from codeprm.prm.metrics import auroc
from codeprm.prm.model import PRMConfig, ProcessRewardModel
from codeprm.prm.positions import Encoded

CHECKPOINT = Path("checkpoint") / "last.pt"


class TrainConfig(StrictModel):
    data: str = Field(description="label export directory from 'codeprm label' (or its labels.jsonl/.parquet)")
    base: str = Field(description="backbone: tiny, embedded, hf:DIR or a Hugging Face model directory")
    out: str = Field(description="output directory: the best model (save_pretrained layout), checkpoint/, tb/")
    mode: Literal["prm", "orm"] = Field(default="prm", description="prm: line labels; orm: the program's pass/fail (baseline)")
    loss: Literal["mse", "bce"] = Field(default="bce", description="mse regression on [-1, 1] targets, or bce classification")
    lora: bool = Field(default=False, description="train LoRA adapters instead of every backbone weight (large bases)")
    lora_rank: int = Field(default=16, ge=1, description="LoRA rank (with lora on)")
    lora_alpha: int = Field(default=32, ge=1, description="LoRA scaling numerator (scale = alpha / rank)")
    epochs: int = Field(default=4, ge=1, description="maximum epochs")
    lr: float = Field(default=1e-4, gt=0, description="AdamW learning rate (the head uses the same)")
    weight_decay: float = Field(default=0.0, ge=0, description="AdamW weight decay")
    batch_size: int = Field(default=8, ge=1, description="texts per optimisation step")
    val_frac: float = Field(default=0.1, ge=0, lt=1, description="fraction of problems held out for validation (0: none, no early stopping)")
    patience: int = Field(default=2, ge=1, description="epochs without a lower validation loss before stopping")
    max_length: int = Field(default=1024, ge=8, description="tokens per text; later lines are not trained on")
    grad_clip: float = Field(default=1.0, gt=0, description="gradient norm clip")
    balance: bool = Field(default=True, description="weight lines (programs, for orm) so correct and wrong ones count equally in the loss: "
                          "labels are mostly +1, and unweighted scores would rarely fall below the threshold")
    seed: int = Field(default=0, description="seeds the head, the split and the shuffling")
    threads: int = Field(default=1, ge=1, description="torch CPU threads (on a busy 2-core machine one thread ran 4x faster than two)")
    device: str = Field(default="auto", description="torch device: auto = cuda when available, else cpu; on cuda the weights stay "
                        "float32 (Adam's small steps survive) and the forward runs under bfloat16 autocast")

    def identity(self) -> dict:
        """Fields that must match to resume a checkpoint (epochs and patience may change)."""
        fields = {"base", "mode", "loss", "lora", "lora_rank", "lora_alpha", "lr", "weight_decay", "batch_size",
                  "val_frac", "max_length", "seed", "balance"}
        return {"data": str(Path(self.data).resolve()), **self.model_dump(include=fields)}


@dataclass
class Example:
    """One text with the positions the head is read at and the targets there."""

    encoded: Encoded
    positions: list[int]
    targets: list[float]


@dataclass
class TrainState:
    epoch: int = 0  # epochs completed
    global_step: int = 0
    best_val_loss: float = math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    finished: bool = False  # stopped early
    history: list[dict] = field(default_factory=list)


@dataclass
class TrainResult:
    state: TrainState
    resumed_from_epoch: int  # 0 for a fresh run
    train_rows: int
    val_rows: int
    out: Path


def build_examples(model: ProcessRewardModel, rows: Sequence[LabelRow]) -> list[Example]:
    loss = model.config.loss
    examples = []
    for row in rows:
        encoded = model.encode(row.policy_prompt, row.completion)
        if model.config.mode == "orm":
            examples.append(Example(encoded, [len(encoded.input_ids) - 1], [outcome_target(row, loss)]))
            continue
        idx = [i for i in row.labelled() if encoded.line_positions[i] is not None]
        if idx:
            examples.append(Example(encoded, [encoded.line_positions[i] for i in idx], [line_target(row, i, loss) for i in idx]))
    return examples


def class_weights(examples: Sequence[Example], loss: str) -> tuple[float, float]:
    """(weight of a correct target, weight of a wrong one) making both classes weigh half the loss; a
    soft target mixes the two by its value."""
    targets = [t if loss == "bce" else (t + 1.0) / 2.0 for e in examples for t in e.targets]
    good = sum(targets) / len(targets)
    if good <= 0.0 or good >= 1.0:
        return 1.0, 1.0
    return 0.5 / good, 0.5 / (1.0 - good)


def batch_loss(model: ProcessRewardModel, batch: Sequence[Example], weights: tuple[float, float] | None = None
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Loss over every read position of the batch (a weighted mean with ``weights``), the raw values
    and their targets."""
    tensors = model.collate([e.encoded for e in batch], [e.positions for e in batch])
    with _autocast(model):
        values = model(*tensors)  # (P,) float32
    targets = torch.tensor([t for e in batch for t in e.targets], dtype=values.dtype, device=values.device)
    if model.config.loss == "bce":
        per_line = F.binary_cross_entropy_with_logits(values, targets, reduction="none")
        good = targets
    else:
        per_line = F.mse_loss(values, targets, reduction="none")
        good = (targets + 1.0) / 2.0
    if weights is None:
        return per_line.mean(), values, targets
    w = weights[0] * good + weights[1] * (1.0 - good)
    return (w * per_line).sum() / w.sum(), values, targets


def _device(name: str) -> torch.device:
    return resolve_placement(name).device


def _autocast(model: ProcessRewardModel):
    """bfloat16 autocast on CUDA (float32 master weights), nothing on a CPU (``codeprm.device``)."""
    return resolve_placement(model.value_head.weight.device.type).autocast()


def _progress(enabled: bool) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("loss {task.fields[loss]}"),
                    TimeElapsedColumn(), TimeRemainingColumn(), disable=not enabled, console=Console(stderr=True))


def _train_one_epoch(model, optimizer, examples, config: TrainConfig, epoch: int, state: TrainState, writer, progress: Progress,
                     weights: tuple[float, float] | None = None) -> float:
    model.train()
    order = list(range(len(examples)))
    random.Random(config.seed * 100_003 + epoch).shuffle(order)  # reproducible per epoch, so resuming is exact
    batches = [order[i : i + config.batch_size] for i in range(0, len(order), config.batch_size)]
    task = progress.add_task(f"epoch {epoch}/{config.epochs}", total=len(batches), loss="-")
    total, count = 0.0, 0
    for batch in batches:
        loss, _, targets = batch_loss(model, [examples[i] for i in batch], weights)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], config.grad_clip)
        optimizer.step()
        state.global_step += 1
        total += loss.item() * len(targets)
        count += len(targets)
        writer.add_scalar("train/loss", loss.item(), state.global_step)
        progress.update(task, advance=1, loss=f"{total / count:.4f}")
    progress.remove_task(task)
    return total / max(count, 1)


@torch.no_grad()
def validate(model: ProcessRewardModel, examples: Sequence[Example], batch_size: int, weights: tuple[float, float] | None = None) -> dict:
    """Mean validation loss and the AUROC of the read values against the binarised targets."""
    model.eval()
    total, count, values, targets = 0.0, 0, [], []
    for i in range(0, len(examples), batch_size):
        loss, v, t = batch_loss(model, examples[i : i + batch_size], weights)
        total += loss.item() * len(t)
        count += len(t)
        values += v.tolist()
        targets += t.tolist()
    middle = 0.5 if model.config.loss == "bce" else 0.0
    return {"loss": total / max(count, 1), "auroc": auroc(values, [t > middle for t in targets])}


def _trainable(model: ProcessRewardModel) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}


def _save_checkpoint(path: Path, model, optimizer, state: TrainState, config: TrainConfig) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"identity": config.identity(), "state": state.__dict__, "trainable": _trainable(model),
               "optimizer": optimizer.state_dict(), "torch_rng": torch.get_rng_state()}
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)  # atomic: an interruption never leaves half a checkpoint


def _load_checkpoint(path: Path, model, optimizer, config: TrainConfig) -> TrainState:
    payload = torch.load(path, map_location="cpu", weights_only=False)
    if payload["identity"] != config.identity():
        changed = sorted(k for k in config.identity() if payload["identity"].get(k) != config.identity()[k])
        raise CodeprmError(f"{path} was trained with other settings ({', '.join(changed)}); use --restart or another --out")
    missing = set(_trainable(model)) - set(payload["trainable"])
    if missing:
        raise CodeprmError(f"{path} lacks weights the model trains ({sorted(missing)[0]}, ...); use --restart")
    model.load_state_dict(payload["trainable"], strict=False)
    optimizer.load_state_dict(payload["optimizer"])
    torch.set_rng_state(payload["torch_rng"])
    return TrainState(**payload["state"])


def train(config: TrainConfig, restart: bool = False, progress: bool = True, console: Console | None = None) -> TrainResult:
    from torch.utils.tensorboard import SummaryWriter

    from codeprm.prm.base import load_base

    console = console or Console(stderr=True)
    torch.set_num_threads(config.threads)
    out = Path(config.out)
    rows = load_label_rows(config.data)
    train_rows, val_rows = split_by_problem(rows, config.val_frac, config.seed)
    backbone, tokenizer = load_base(config.base)
    torch.manual_seed(config.seed)  # head and LoRA initialisation
    # Never read past the positions the backbone was trained for.
    max_length = min(config.max_length, getattr(backbone.config, "max_position_embeddings", None) or config.max_length)
    prm_config = PRMConfig(mode=config.mode, loss=config.loss, base_model=config.base, max_length=max_length,
                           label_format="outcome" if config.mode == "orm" else label_format(rows))
    model = ProcessRewardModel.from_backbone(backbone, tokenizer, prm_config, lora_r=config.lora_rank if config.lora else None,
                                             lora_alpha=config.lora_alpha)
    model.to(device=_device(config.device), dtype=torch.float32)
    train_examples = build_examples(model, train_rows)
    if not train_examples:
        raise CodeprmError(f"no training examples in {config.data}: no row of the training split has a labelled line")
    val_examples = build_examples(model, val_rows)
    weights = class_weights(train_examples, config.loss) if config.balance else None
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.lr, weight_decay=config.weight_decay)

    state, resumed_from = TrainState(), 0
    checkpoint = out / CHECKPOINT
    if checkpoint.is_file() and not restart:
        state = _load_checkpoint(checkpoint, model, optimizer, config)
        resumed_from = state.epoch
        console.print(f"resuming {out} after epoch {state.epoch} (best val loss {state.best_val_loss:.4f} at epoch {state.best_epoch})")
    console.print(f"{config.mode.upper()} on {config.base}: {len(train_examples)} train texts ({len(train_rows)} rows), "
                  f"{len(val_examples)} validation texts ({len(val_rows)} rows), loss {config.loss}, "
                  f"{'LoRA rank ' + str(config.lora_rank) if config.lora else 'full fine-tuning'}"
                  f"{f', class weights correct {weights[0]:.2f} / wrong {weights[1]:.2f}' if weights else ''}")
    writer = SummaryWriter(log_dir=str(out / "tb"), purge_step=state.global_step + 1 if resumed_from else None)
    try:
        with _progress(progress) as bar:
            for epoch in range(state.epoch + 1, config.epochs + 1):
                if state.finished:
                    break
                train_loss = _train_one_epoch(model, optimizer, train_examples, config, epoch, state, writer, bar, weights)
                record = {"epoch": epoch, "train_loss": train_loss}
                if val_examples:
                    val = validate(model, val_examples, config.batch_size, weights)
                    record.update(val_loss=val["loss"], val_auroc=val["auroc"])
                    writer.add_scalar("val/loss", val["loss"], epoch)
                    if not math.isnan(val["auroc"]):
                        writer.add_scalar("val/auroc", val["auroc"], epoch)
                writer.add_scalar("train/epoch_loss", train_loss, epoch)
                improved = not val_examples or record["val_loss"] < state.best_val_loss - 1e-6
                if improved:
                    state.best_val_loss = record.get("val_loss", train_loss)
                    state.best_epoch, state.bad_epochs = epoch, 0
                    model.save_pretrained(out)
                else:
                    state.bad_epochs += 1
                state.epoch = epoch
                state.history.append(record)
                state.finished = bool(val_examples) and state.bad_epochs >= config.patience
                _save_checkpoint(checkpoint, model, optimizer, state, config)
                shown = ", ".join(f"{k} {v:.4f}" for k, v in record.items() if k != "epoch")
                console.print(f"epoch {epoch}: {shown}{' (best, saved)' if improved else ''}")
                if state.finished:
                    console.print(f"stopping early: no better validation loss for {config.patience} epochs")
    finally:
        writer.close()
    return TrainResult(state=state, resumed_from_epoch=resumed_from, train_rows=len(train_rows), val_rows=len(val_rows), out=out)
