"""A tiny Llama and a byte-level BPE tokenizer trained in-process, and label rows in the exact
``codeprm label`` export layout, for fast tests."""

from __future__ import annotations

import json
from pathlib import Path

CORPUS = [
    "def add(a, b):\n    return a + b\n",
    "def sub(a, b):\n    return a - b\n",
    "def first(xs):\n    if not xs:\n        return None\n    return xs[0]\n",
    "def total(xs):\n    s = 0\n    for x in xs:\n        s += x\n    return s\n",
    "    # comment line\n    result = [x * 2 for x in xs]\r\n    return result\n",
    'def greet(name):\n    """Say hello."""\n    return "hello " + name\n',
]


def tiny_tokenizer(merge_across_lines: bool = False, bos: bool = False):
    """Byte-level BPE. ``merge_across_lines``: no pre-tokenizer split, so merges such as ':\n    '
    join a line's last character with the newline and the next indentation. ``bos``: prepend <s>."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=not merge_across_lines)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<s>", "</s>", "<pad>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS * 20, trainer=trainer)
    if bos:
        tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 0)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>")


def tiny_model(vocab_size: int, seed: int = 0):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                         intermediate_size=64, vocab_size=vocab_size, max_position_embeddings=512,
                         bos_token_id=0, eos_token_id=1, pad_token_id=2)
    return LlamaForCausalLM(config)


def save_tiny_base(directory: Path) -> Path:
    """A tiny causal LM directory, loadable as ``--base DIR``."""
    tokenizer = tiny_tokenizer()
    tiny_model(len(tokenizer)).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def split_lines(text: str) -> list[str]:
    lines = text.split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def label_row(problem_id: str, completion: str, first_error: int | None, passed: bool, prompt: str = "def f(xs):\n") -> dict:
    """A row as 'codeprm label --method binary' writes it: +1 before the first error, -1 from it on,
    null on blank and comment-only lines."""
    lines = split_lines(completion)
    labels = []
    for i, line in enumerate(lines):
        if not line.strip() or line.strip().startswith("#"):
            labels.append(None)
        else:
            labels.append(-1.0 if first_error is not None and i >= first_error else 1.0)
    return {"problem_id": problem_id, "prompt": prompt, "policy_prompt": prompt, "completion": completion, "lines": lines,
            "labels": labels, "first_error": first_error, "passed": passed, "status": "pass" if passed else "fail",
            "method": "binary", "k": 4, "rollouts": 8, "probes": 3, "monotonic_violation": False, "beyond_policy": False}


GOOD = "    s = 0\n    for x in xs:\n        s += x\n    return s\n"
BAD = "    s = 0\n    # add them up\n    for x in xs:\n        s -= x\n    return s\n"  # error at line 3


def synthetic_rows(problems: int = 6, samples: int = 4) -> list[dict]:
    """Per problem, ``samples`` rows alternating a passing and a failing completion."""
    rows = []
    for p in range(problems):
        for s in range(samples):
            if s % 2 == 0:
                rows.append(label_row(f"synth/{p}", GOOD.replace("s", "s" * (1 + p % 2)), None, True))
            else:
                rows.append(label_row(f"synth/{p}", BAD.replace("s", "s" * (1 + p % 2)), 3, False))
    return rows


def write_labels(directory: Path, rows: list[dict], benchmark: str = "synth:train") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "labels.jsonl", "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    (directory / "config.json").write_text(json.dumps({"policy": "tiny", "benchmark": benchmark, "method": "binary"}))
    return directory
