"""CSPDarknet: the YOLOv8-class backbone, scaled by depth and width multipliers."""

from __future__ import annotations

import math

import torch
from torch import nn

from yololab.nn.activations import Activation, ActivationSpec
from yololab.nn.blocks import SPPF, C2f, ConvNormAct


def scale_width(channels: int, width_multiple: float, max_channels: int) -> int:
    """Channels after width scaling, rounded up to a multiple of 8."""
    return math.ceil(min(channels, max_channels) * width_multiple / 8) * 8


def scale_depth(repeats: int, depth_multiple: float) -> int:
    return max(round(repeats * depth_multiple), 1)


class CSPDarknet(nn.Module):
    """Stem plus four stride-2 stages of C2f blocks, SPPF on top; returns the stride 8, 16, 32 maps."""

    def __init__(
        self,
        depth_multiple: float = 0.33,
        width_multiple: float = 0.25,
        max_channels: int = 1024,
        in_channels: int = 3,
        activation: Activation = "silu",
    ) -> None:
        super().__init__()
        act = ActivationSpec.parse(activation)
        w = [scale_width(c, width_multiple, max_channels) for c in (64, 128, 256, 512, 1024)]
        d = [scale_depth(n, depth_multiple) for n in (3, 6, 6, 3)]
        self.stem = ConvNormAct(in_channels, w[0], 3, 2, act)
        self.stages = nn.ModuleList(
            nn.Sequential(ConvNormAct(w[i], w[i + 1], 3, 2, act), C2f(w[i + 1], w[i + 1], d[i], True, act))
            for i in range(4)
        )
        self.sppf = SPPF(w[4], w[4], 5, act)
        self.out_channels = (w[2], w[3], w[4])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        outs = []
        for stage in self.stages:
            x = stage(x)
            outs.append(x)
        return [outs[1], outs[2], self.sppf(outs[3])]
