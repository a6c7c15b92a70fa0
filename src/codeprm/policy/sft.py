"""Supervised fine-tuning of a small causal LM from scratch on prompt -> reference pairs.

This is how the *tiny* policy is made: a byte-level BPE tokenizer trained on the suite's own text, a
few-million-parameter Llama, and a plain AdamW loop with a cosine schedule. The loss covers only the
completion tokens (the reference body and EOS), so the model learns to write bodies, not docstrings, and
to emit EOS when the body is done (generation then stops by itself).

The text the model is trained to continue is exactly what ``HFPolicy.prompt_for`` gives a base model:
the prompt without its trailing newline, so the completion starts with ``"\\n    "``.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
from pathlib import Path
from typing import Callable

import torch
from pydantic import Field

from codeprm.config import StrictModel
from codeprm.errors import CodeprmError
from codeprm.problems import Problem, load_benchmark

EOS = "<|endoftext|>"


class SFTConfig(StrictModel):
    """A from-scratch SFT run; the defaults make the tiny policy in about ten minutes on two CPU cores."""

    data: str = Field(default="synth:train", description="benchmark whose prompt -> reference pairs are the training set")
    vocab_size: int = Field(default=1536, ge=300, le=65536, description="BPE vocabulary trained on the data (bytes + merges + EOS)")
    hidden_size: int = Field(default=192, ge=16, description="model width")
    num_layers: int = Field(default=3, ge=1, description="transformer blocks")
    num_heads: int = Field(default=4, ge=1, description="attention heads (hidden_size must divide by it)")
    intermediate_size: int = Field(default=512, ge=16, description="MLP width")
    max_len: int = Field(default=384, ge=32, description="longest prompt+completion in tokens; longer examples are dropped")
    steps: int = Field(default=250, ge=1, description="optimizer steps")
    batch_size: int = Field(default=32, ge=1, description="examples per step")
    lr: float = Field(default=2e-3, gt=0, description="peak learning rate (small models from scratch like it high)")
    warmup_steps: int = Field(default=20, ge=0, description="linear warmup before the cosine decay")
    weight_decay: float = Field(default=0.05, ge=0, description="AdamW weight decay")
    seed: int = Field(default=0, description="seeds model init and batch order")
    threads: int = Field(default=1, ge=1, description="torch CPU threads (one is ~3x faster than two on a busy 2-core machine)")
    log_every: int = Field(default=25, ge=1, description="steps between loss reports")
    mutate_line_prob: float = Field(default=0.0, ge=0, le=1, description="per reference body line, the probability that a training "
                                    "copy has it replaced by a one-line mutant (problems/mutate.py): a policy with line-local error "
                                    "habits that RL can remove on fresh problems (docs/experiments/rl_mechanism); 0 = clean references")
    device: str = Field(default="auto", description="torch device: auto = cuda when available, else cpu")
    mutation_copies: int = Field(default=1, ge=1, le=64, description="training copies of each problem, each mutated independently "
                                 "(with mutate_line_prob > 0: the habit is a rate, not a memorised edit of one problem)")


def training_pair(problem: Problem) -> tuple[str, str]:
    """(text the model sees, text it must write) for one completion-style problem with a reference."""
    if problem.style != "completion" or problem.reference is None:
        raise CodeprmError(f"SFT needs completion-style problems with a reference; {problem.id} is not")
    prompt = problem.prompt.rstrip(" \t\n")  # as HFPolicy.prompt_for shows it to a base model
    return prompt, problem.prompt[len(prompt):] + problem.reference


def train_tokenizer(texts: list[str], vocab_size: int):
    """A byte-level BPE ``PreTrainedTokenizerFast`` with EOS doubling as padding (no BOS is added)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=EOS, clean_up_tokenization_spaces=False)


def build_model(config: SFTConfig, vocab_size: int, eos_id: int):
    from transformers import LlamaConfig, LlamaForCausalLM

    if config.hidden_size % config.num_heads:
        raise CodeprmError(f"hidden_size {config.hidden_size} must be a multiple of num_heads {config.num_heads}")
    model_config = LlamaConfig(
        vocab_size=vocab_size, hidden_size=config.hidden_size, intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_layers, num_attention_heads=config.num_heads, num_key_value_heads=config.num_heads,
        max_position_embeddings=config.max_len, tie_word_embeddings=True, eos_token_id=eos_id, pad_token_id=eos_id,
        bos_token_id=None,
    )
    torch.manual_seed(config.seed)
    return LlamaForCausalLM(model_config)


def habit_pairs(problems: list[Problem], prob: float, copies: int, seed: int) -> list[tuple[str, str]]:
    """``copies`` training pairs per problem whose reference body lines are each replaced, independently
    with probability ``prob``, by a random one-line mutant of that line (operator swap, constant change,
    comparison flip, variable swap, dropped line). Lines keep their count, so a mutant's line is the
    reference's line at the same index. Deterministic in ``seed``."""
    from codeprm.problems.mutate import mutants

    rng = random.Random(seed)
    pairs = []
    for problem in problems:
        prompt, completion = training_pair(problem)
        first = problem.prompt.count("\n")  # program line of the reference's first body line
        n_body = len(problem.reference.splitlines())
        for _ in range(copies):
            program = problem.prompt + problem.reference
            for row in range(first, first + n_body):
                if rng.random() < prob:
                    options = mutants(program, lines=range(row, row + 1), seed=rng.randrange(2**31))
                    if options:
                        program = rng.choice(options).program
            pairs.append((prompt, problem.prompt[len(prompt):] + program[len(problem.prompt):]))
    return pairs


def encode_examples(problems: list[Problem] | list[tuple[str, str]], tokenizer, max_len: int) -> list[tuple[list[int], list[int]]]:
    """(prompt ids, completion ids + EOS) per problem (or per ready (prompt, completion) pair), tokenized
    apart exactly as generation sees them."""
    examples = []
    for item in problems:
        prompt, completion = item if isinstance(item, tuple) else training_pair(item)
        p_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        c_ids = tokenizer(completion, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        if len(p_ids) + len(c_ids) <= max_len:
            examples.append((p_ids, c_ids))
    return examples


def collate(batch: list[tuple[list[int], list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded ids, attention mask, and labels that are -100 except on completion tokens."""
    width = max(len(p) + len(c) for p, c in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for i, (p, c) in enumerate(batch):
        ids[i, : len(p) + len(c)] = torch.tensor(p + c)
        labels[i, len(p) : len(p) + len(c)] = torch.tensor(c)
        mask[i, : len(p) + len(c)] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def epoch_batches(lengths: list[int], batch_size: int, rng: random.Random, pool: int = 32) -> list[list[int]]:
    """One epoch of index batches, each drawn from a length-sorted pool of ``pool`` batches so little of
    a batch is padding (CPU time is spent on every padded position)."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches = []
    for start in range(0, len(order), batch_size * pool):
        chunk = sorted(order[start : start + batch_size * pool], key=lambda i: lengths[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def train_sft(config: SFTConfig, out_dir: str | Path, on_step: Callable[[int, float], None] | None = None) -> dict:
    """Train, then ``save_pretrained`` model and tokenizer to ``out_dir`` atomically (a temp dir renamed
    into place). Returns the run's metrics (also written to ``out_dir/sft_metrics.json``)."""
    from transformers import get_cosine_schedule_with_warmup

    out_dir = Path(out_dir).expanduser()
    torch.set_num_threads(config.threads)
    start = time.time()
    problems = [p for p in load_benchmark(config.data) if p.reference is not None]
    texts = [a + b for a, b in map(training_pair, problems)]
    tokenizer = train_tokenizer(texts, config.vocab_size)
    if config.mutate_line_prob > 0 or config.mutation_copies > 1:
        pairs = habit_pairs(problems, config.mutate_line_prob, config.mutation_copies, config.seed)
        examples = encode_examples(pairs, tokenizer, config.max_len)
    else:
        examples = encode_examples(problems, tokenizer, config.max_len)
    if not examples:
        raise CodeprmError(f"no training example of '{config.data}' fits max_len={config.max_len}")
    device = ("cuda" if torch.cuda.is_available() else "cpu") if config.device == "auto" else config.device
    model = build_model(config, len(tokenizer), tokenizer.eos_token_id).to(device)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay, betas=(0.9, 0.95))
    scheduler = get_cosine_schedule_with_warmup(optimizer, config.warmup_steps, config.steps)
    rng = random.Random(config.seed)
    batches: list[list[int]] = []
    losses: list[tuple[int, float]] = []
    running = None
    for step in range(1, config.steps + 1):
        if not batches:
            batches = epoch_batches([len(p) + len(c) for p, c in examples], config.batch_size, rng)
        batch = {k: v.to(device) for k, v in collate([examples[i] for i in batches.pop()], tokenizer.pad_token_id).items()}
        loss = model(**batch).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        value = float(loss.detach())
        running = value if running is None else 0.9 * running + 0.1 * value
        if step % config.log_every == 0 or step == config.steps:
            losses.append((step, round(running, 4)))
        if on_step:
            on_step(step, running)
    train_s = time.time() - start
    metrics = {
        "config": config.model_dump(), "examples": len(examples), "parameters": sum(p.numel() for p in model.parameters()),
        "vocab_size": len(tokenizer), "train_s": round(train_s, 1), "final_loss": round(running or math.nan, 4), "loss_curve": losses,
        "epochs": round(config.steps * config.batch_size / len(examples), 2),
    }
    _save_atomically(model.cpu(), tokenizer, metrics, out_dir)
    return metrics


def _save_atomically(model, tokenizer, metrics: dict, out_dir: Path) -> None:
    # A reader never sees a half-written model: write beside the target, then swap it in with renames.
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / "sft_metrics.json").write_text(json.dumps(metrics, indent=1))
    old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
    if out_dir.exists():
        out_dir.rename(old)
    tmp.rename(out_dir)
    shutil.rmtree(old, ignore_errors=True)
