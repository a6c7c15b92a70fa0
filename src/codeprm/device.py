"""Where tensors live and in which precision, for the policy, the PRM and RL alike.

On CUDA the models keep float32 *master* weights and run their forward passes under bfloat16 autocast:
AdamW's updates at lr 1e-5 are far below bf16's resolution (8 bits of mantissa: a weight of 0.1 moves in
steps of ~4e-4), so bf16 weights would silently drop most steps. On a CPU everything is float32.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Placement:
    device: torch.device
    autocast_dtype: torch.dtype | None  # None = no autocast (float32 forward passes)

    def autocast(self):
        """Context for every forward pass (generation, log-probs, values, PRM scores)."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

    def prepare(self, module: torch.nn.Module) -> torch.nn.Module:
        """The module on this device with float32 weights (the master copy the optimiser steps)."""
        return module.to(device=self.device, dtype=torch.float32)


def resolve_placement(device: str = "auto", precision: str = "auto") -> Placement:
    """``device`` auto = cuda when available; ``precision`` auto = bf16 autocast on cuda, fp32 on cpu."""
    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else ("cpu" if device == "auto" else device))
    use_bf16 = precision == "bf16" or (precision == "auto" and dev.type == "cuda")
    return Placement(dev, torch.bfloat16 if use_bf16 else None)
