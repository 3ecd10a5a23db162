"""PAN neck: a top-down path then a bottom-up path over the backbone's three levels."""

from __future__ import annotations

import torch
from torch import nn

from yololab.models.backbone import scale_depth
from yololab.nn.activations import Activation, ActivationSpec
from yololab.nn.blocks import C2f, ConvNormAct


class PAN(nn.Module):
    """Path-aggregation neck in the YOLOv8 layout; keeps the input channels of each level."""

    def __init__(
        self,
        in_channels: tuple[int, int, int],
        depth_multiple: float = 0.33,
        activation: Activation = "silu",
    ) -> None:
        super().__init__()
        act = ActivationSpec.parse(activation)
        c3, c4, c5 = in_channels
        n = scale_depth(3, depth_multiple)
        self.up = nn.Upsample(scale_factor=2.0, mode="nearest")
        self.top_down4 = C2f(c5 + c4, c4, n, False, act)
        self.top_down3 = C2f(c4 + c3, c3, n, False, act)
        self.down3 = ConvNormAct(c3, c3, 3, 2, act)
        self.bottom_up4 = C2f(c3 + c4, c4, n, False, act)
        self.down4 = ConvNormAct(c4, c4, 3, 2, act)
        self.bottom_up5 = C2f(c4 + c5, c5, n, False, act)
        self.out_channels = (c3, c4, c5)

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        p3, p4, p5 = feats
        t4 = self.top_down4(torch.cat([self.up(p5), p4], 1))
        n3 = self.top_down3(torch.cat([self.up(t4), p3], 1))
        n4 = self.bottom_up4(torch.cat([self.down3(n3), t4], 1))
        n5 = self.bottom_up5(torch.cat([self.down4(n4), p5], 1))
        return [n3, n4, n5]
