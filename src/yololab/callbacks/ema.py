"""Exponential moving average of the weights, with the YOLO warm-up ramp on the decay."""

from __future__ import annotations

import math

import torch
from lightning.pytorch.callbacks import WeightAveraging


class ModelEMA(WeightAveraging):
    """Lightning's weight averaging with decay ``decay * (1 - exp(-updates / tau))``.

    The ramp lets the average follow the fast-changing early weights, then settle near ``decay``.
    The averaged weights are used for validation and stored as the checkpoint's ``state_dict``;
    buffers (BatchNorm statistics) are averaged too.
    """

    def __init__(self, decay: float = 0.9999, tau: float = 2000.0) -> None:
        self.decay, self.tau = decay, tau
        super().__init__(use_buffers=True, multi_avg_fn=self._average)

    def _average(self, averaged: list[torch.Tensor], current: list[torch.Tensor], num_averaged) -> None:
        """In place, one tensor group (same device and dtype) at a time."""
        if not averaged[0].is_floating_point():  # counters such as BatchNorm's num_batches_tracked
            torch._foreach_copy_(averaged, current)
            return
        d = self.decay * (1 - math.exp(-float(num_averaged) / self.tau))
        torch._foreach_lerp_(averaged, current, 1.0 - d)
