"""Precision and placement: the PRM's forward returns float32 under bf16 autocast, and training keeps
float32 weights with autocast only on CUDA. (Moving a CPU-built batch to a GPU model needs a GPU to test.)"""

import torch

from codeprm.prm.model import PRMConfig, ProcessRewardModel
from codeprm.rl.tests.tiny import tiny_llama


def test_forward_follows_the_model_device():
    model, tok = tiny_llama(0)
    prm = ProcessRewardModel.from_backbone(model, tok, PRMConfig())
    enc = prm.encode("def f(x):\n", "    y = x\n    return y\n")
    tensors = prm.collate([enc], [[p for p in enc.line_positions if p is not None]])
    cpu = prm(*tensors)
    assert cpu.dtype == torch.float32 and cpu.shape == (2,)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the head's output stays float32 for the loss
        assert prm(*tensors).dtype == torch.float32


def test_train_autocast_only_on_cuda():
    from codeprm.prm.train import _autocast, _device

    model, tok = tiny_llama(0)
    prm = ProcessRewardModel.from_backbone(model, tok, PRMConfig())
    assert not isinstance(_autocast(prm), torch.autocast)
    assert _device("cpu").type == "cpu"
    assert all(p.dtype == torch.float32 for p in prm.parameters())
