"""With the embedded SmolLM2 (slow: loads a 135M model): its real tokenizer's offsets, and a LoRA PRM
on it resolved through the policy registry."""

from __future__ import annotations

import pytest

from codeprm.prm.positions import line_end_positions
from codeprm.prm.tests.test_prm_positions import assert_covers

pytestmark = pytest.mark.slow

SNIPPETS = [
    ('def has_close_elements(numbers, threshold):\n    """ Check if any two numbers are closer than threshold.\n    """\n',
     "    for idx, elem in enumerate(numbers):\n        for idx2, elem2 in enumerate(numbers):\n"
     "            if idx != idx2:\n\n                # distance\n                distance = abs(elem - elem2)\n"
     "                if distance < threshold:\n                    return True\n\n    return False"),
    ("def f(s):\n", "    return ''.join(c for c in s if c not in 'aeioué€')\r\n    \r\n"),
]


@pytest.fixture(scope="module")
def embedded_dir():
    from codeprm.policy.embedded import CACHE_DIRNAME, cache_root, ensure_converted, find_gguf

    return ensure_converted(find_gguf(), cache_root() / CACHE_DIRNAME).path


@pytest.mark.parametrize("prompt, completion", SNIPPETS)
def test_smollm2_tokenizer_offsets(embedded_dir, prompt, completion):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(embedded_dir)
    positions = line_end_positions(prompt + completion, len(prompt), tokenizer)
    assert_covers(tokenizer, prompt + completion, len(prompt), positions)


def test_lora_prm_on_the_embedded_policy(tmp_path):
    import torch

    from codeprm.prm.base import load_base
    from codeprm.prm.model import PRMConfig, ProcessRewardModel

    backbone, tokenizer = load_base("embedded")
    prm = ProcessRewardModel.from_backbone(backbone, tokenizer, PRMConfig(base_model="embedded"), lora_r=8)
    trainable = sum(p.numel() for p in prm.parameters() if p.requires_grad)
    assert 0 < trainable < 0.1 * sum(p.numel() for p in prm.parameters())
    prompt, completion = SNIPPETS[0]
    scores = prm.score(prompt, completion)
    assert [s is None for s in scores] == [not l.strip() or l.strip().startswith("#") for l in completion.split("\n")]
    prm.save_pretrained(tmp_path)
    loaded = ProcessRewardModel.from_pretrained(tmp_path)
    assert torch.allclose(torch.tensor([s for s in loaded.score(prompt, completion) if s is not None]),
                          torch.tensor([s for s in scores if s is not None]), atol=1e-4)
