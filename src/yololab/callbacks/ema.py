"""Exponential moving average of the weights, with the YOLO warm-up ramp on the decay."""

from __future__ import annotations

import math

import torch
from lightning.pytorch.callbacks import WeightAveraging


class ModelEMA(WeightAveraging):
    """Lightning's weight averaging with decay ``decay * (1 - exp(-n / tau))``, n the updates already averaged.

    The ramp lets the average follow the fast-changing early weights, then settle near ``decay``. Its count is
    torch's ``AveragedModel.n_averaged``, deliberately: the first update copies the weights (d = 0) and update
    k >= 2 uses ``decay * (1 - exp(-(k - 1) / tau))``. ultralytics' ModelEMA starts from the initial weights and
    uses ``exp(-k / tau)`` at update k: the same ramp one update later, with the random initial weights kept at
    a weight of ~5e-4 (its averages differ from these by 1e-5 to 2e-5 over 5000 steps). Here the average never
    holds the untrained weights.
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
        d = self.decay * (1 - math.exp(-float(num_averaged) / self.tau))  # num_averaged >= 1 (the first copies)
        torch._foreach_lerp_(averaged, current, 1.0 - d)
