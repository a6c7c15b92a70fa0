"""A tiny random-weight Llama and a byte-level BPE tokenizer trained here, saved once per session."""

from __future__ import annotations

import pytest
import torch

CORPUS = [
    "def add(a, b):\n    return a + b\n",
    "def is_even(n):\n    return n % 2 == 0\n",
    "for i in range(10):\n    print(i)\n",
    "class Point:\n    def __init__(self, x, y):\n        self.x = x\n        self.y = y\n",
    "if __name__ == '__main__':\n    main()\n",
    "result = [x * x for x in values if x > 0]\n",
    "while left < right:\n    mid = (left + right) // 2\n",
    "Écrire une fonction qui renvoie la somme — ∑ des éléments.\n",
]


def build_tiny_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<pad>", "<s>", "</s>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS * 20, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>")


def build_tiny_model(vocab_size: int, eos_id: int, pad_id: int, seed: int = 0):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
        intermediate_size=64, max_position_embeddings=512, eos_token_id=eos_id, pad_token_id=pad_id, bos_token_id=1,
        initializer_range=0.3,  # peaked logits: greedy output varies along the text instead of repeating one token
    )
    model = LlamaForCausalLM(config)
    # A random model would rarely say EOS; make it impossible so the length/stop paths are what tests see.
    with torch.no_grad():
        model.lm_head.weight[eos_id] = 0.0
        model.lm_head.weight[pad_id] = 0.0
    return model.eval()


@pytest.fixture(autouse=True)
def one_torch_thread():
    """A 32-wide model gains nothing from threads, and on a busy machine OpenMP workers spin-waiting for
    each other cost more CPU than the model itself."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = build_tiny_tokenizer()
    model = build_tiny_model(len(tokenizer), tokenizer.eos_token_id, tokenizer.pad_token_id)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_policy(tiny_dir):
    from codeprm.policy.hf import HFPolicy, HFPolicyConfig

    return HFPolicy.from_pretrained(tiny_dir, HFPolicyConfig(batch_size=8, device="cpu"))
