"""Optimiser parameter groups and the warm-up + decay learning-rate schedule."""

from __future__ import annotations

import math
import numbers
import re

import torch
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

_NO_DECAY = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.PReLU)


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on conv and linear weights only: never on norm weights, biases or PReLU slopes."""
    decay, no_decay = [], []
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            if not param.requires_grad:
                continue
            if name == "bias" or isinstance(module, _NO_DECAY):
                no_decay.append(param)
            else:
                decay.append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


# torch's words for the settings it rejects -> the optimiser config's keys
_TORCH_WORDS = {"learning rate": "lr", "epsilon": "eps", "beta": "betas", "momentum": "momentum",
                "weight_decay": "weight_decay", "dampening": "dampening"}


def check_optimizer(factory, key: str = "model.optimizer") -> None:
    """Build the optimiser once on a dummy parameter, so a bad setting (a negative learning rate) stops before
    the data scan with the key named, not in torch's traceback once training starts."""
    lr = getattr(factory, "keywords", {}).get("lr")
    if lr is not None and (not isinstance(lr, numbers.Real) or isinstance(lr, bool) or not lr > 0):
        raise ValueError(f"{key}.lr={lr!r}: the learning rate must be a positive number")
    try:
        factory([nn.Parameter(torch.zeros(1))])
    except (ValueError, TypeError) as err:
        words = [name for word, name in _TORCH_WORDS.items() if re.search(word, str(err), re.IGNORECASE)]
        raise ValueError(f"{key}{'.' + words[0] if words else ''}: {err}") from None


class WarmupDecay(LambdaLR):
    """Linear warm-up from zero over ``warmup_epochs`` (``int(warmup_epochs * steps_per_epoch)`` steps), then
    cosine or linear decay to ``final_lr_ratio`` times the base rate at ``total_steps``; stepped every
    optimiser step. The module passes ``total_steps`` and ``steps_per_epoch``; the config sets the rest."""

    def __init__(
        self,
        optimizer: Optimizer,
        total_steps: int,
        steps_per_epoch: int = 1,
        warmup_epochs: float = 0.0,
        decay: str = "cosine",
        final_lr_ratio: float = 0.01,
    ) -> None:
        if decay not in ("cosine", "linear"):
            raise ValueError(f"unknown decay {decay!r}; valid: cosine, linear")
        warmup_steps = int(warmup_epochs * steps_per_epoch)
        self.total_steps, self.warmup_steps = max(total_steps, 1), min(warmup_steps, max(total_steps - 1, 0))
        self.decay, self.final_lr_ratio = decay, final_lr_ratio
        super().__init__(optimizer, self.factor)

    def factor(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / (self.warmup_steps + 1)
        progress = min((step - self.warmup_steps) / max(self.total_steps - self.warmup_steps, 1), 1.0)
        shape = 0.5 * (1 + math.cos(math.pi * progress)) if self.decay == "cosine" else 1 - progress
        return self.final_lr_ratio + (1 - self.final_lr_ratio) * shape
