"""The YOLOv8-style decoupled convolutional head."""

from __future__ import annotations

import torch
from torch import nn

from yololab.models.heads.base import DetectionHead
from yololab.nn.blocks import ConvNormAct


class ConvHead(DetectionHead):
    """Per level, a box branch and a class branch of two 3x3 Conv-Norm-Act layers and a linear 1x1 conv."""

    def __init__(
        self,
        in_channels: tuple[int, ...],
        num_classes: int,
        strides: tuple[float, ...] = (8, 16, 32),
        reg_max: int = 16,
        activation: str = "silu",
        box_activation: str | None = None,
        cls_activation: str | None = None,
        norm: str = "batch",
    ) -> None:
        super().__init__(num_classes, reg_max, activation, box_activation, cls_activation)
        box_ch = max(16, in_channels[0] // 4, 4 * reg_max)
        cls_ch = max(in_channels[0], min(num_classes, 100))
        self.box = nn.ModuleList(self._branch(c, box_ch, 4 * reg_max, self.box_spec, norm) for c in in_channels)
        self.cls = nn.ModuleList(self._branch(c, cls_ch, num_classes, self.cls_spec, norm) for c in in_channels)
        for box, cls, stride in zip(self.box, self.cls, strides, strict=True):
            self.init_output_bias(box[-1].bias, cls[-1].bias, stride)

    @staticmethod
    def _branch(in_ch: int, hidden: int, out_ch: int, act, norm: str) -> nn.Sequential:
        return nn.Sequential(
            ConvNormAct(in_ch, hidden, 3, activation=act, norm=norm),
            ConvNormAct(hidden, hidden, 3, activation=act, norm=norm),
            nn.Conv2d(hidden, out_ch, 1),
        )

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        return [torch.cat([box(f), cls(f)], 1) for f, box, cls in zip(feats, self.box, self.cls, strict=True)]
