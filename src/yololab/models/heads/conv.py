"""The YOLOv8-style decoupled convolutional head."""

from __future__ import annotations

from torch import nn

from yololab.models.heads.base import HeadArgs, PerLevelHead, Unpack
from yololab.nn.blocks import ConvNormAct


class ConvHead(PerLevelHead):
    """Per level, a box branch and a class branch of two 3x3 Conv-Norm-Act layers and a linear 1x1 conv.
    The shared arguments (``strides``, ``reg_max``, the activations, ``img_size``): :class:`HeadArgs`."""

    def __init__(
        self, in_channels: tuple[int, ...], num_classes: int, norm: str = "batch", **common: Unpack[HeadArgs]
    ) -> None:
        super().__init__(num_classes, **common)
        widths = {
            "box": max(16, in_channels[0] // 4, 4 * self.reg_max),
            "cls": max(in_channels[0], min(num_classes, 100)),
        }

        def branch(kind: str, in_ch: int, out_ch: int, act) -> nn.Sequential:
            hidden = widths[kind]
            return nn.Sequential(
                ConvNormAct(in_ch, hidden, 3, activation=act, norm=norm),
                ConvNormAct(hidden, hidden, 3, activation=act, norm=norm),
                nn.Conv2d(hidden, out_ch, 1),
            )

        self.build_branches(in_channels, self.strides, branch)
