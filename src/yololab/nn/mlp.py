"""A fully-connected stack, written as 1x1 convolutions so it runs at every location of a feature map."""

from __future__ import annotations

from torch import nn

from yololab.nn.activations import Activation
from yololab.nn.blocks import ConvNormAct


class MLP(nn.Sequential):
    """``depth`` hidden layers of ``width`` units (linear -> norm -> activation -> dropout), then a
    linear output layer. On a [B, C, H, W] map it is the same MLP applied at each of the H x W
    locations; on a [B, C, 1, 1] map it is an ordinary MLP."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        width: int,
        depth: int,
        activation: Activation = "silu",
        norm: str = "none",
        dropout: float = 0.0,
    ) -> None:
        layers = [
            ConvNormAct(in_channels if i == 0 else width, width, 1, activation=activation, norm=norm, dropout=dropout)
            for i in range(depth)
        ]
        layers.append(nn.Conv2d(width if depth else in_channels, out_channels, 1))
        super().__init__(*layers)
