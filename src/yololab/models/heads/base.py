"""What every detection head shares: the output layout, branch activations and prior biases."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from yololab.nn.activations import Activation, ActivationSpec


class DetectionHead(nn.Module):
    """A head maps neck features to raw maps [B, 4 * reg_max + num_classes, H, W], one per level.

    The box branch predicts ``reg_max`` distance bins per side, the class branch one logit per
    class. Both branches end in a linear layer; each may have its own activation spec.
    """

    def __init__(
        self,
        num_classes: int,
        reg_max: int,
        activation: Activation,
        box_activation: Activation | None,
        cls_activation: Activation | None,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.reg_max = reg_max
        self.box_spec = ActivationSpec.parse(box_activation or activation)
        self.cls_spec = ActivationSpec.parse(cls_activation or activation)

    def init_output_bias(self, box_bias: torch.Tensor, cls_bias: torch.Tensor, stride: float) -> None:
        """Box bins start uniform; class logits start at a prior of ~5 objects per 640x640 image."""
        with torch.no_grad():
            box_bias.fill_(1.0)
            cls_bias.fill_(math.log(5 / self.num_classes / (640 / stride) ** 2))


class PerLevelHead(DetectionHead):
    """A box branch and a class branch at every pyramid level; subclasses say what a branch is."""

    def build_branches(self, in_channels, strides, make_branch: Callable[[str, int, int, ActivationSpec], nn.Module]):
        """``make_branch(kind, in_channels, out_channels, activation)``, kind 'box' or 'cls', must end
        in a linear layer."""
        self.box = nn.ModuleList(make_branch("box", c, 4 * self.reg_max, self.box_spec) for c in in_channels)
        self.cls = nn.ModuleList(make_branch("cls", c, self.num_classes, self.cls_spec) for c in in_channels)
        for box, cls, stride in zip(self.box, self.cls, strides, strict=True):
            self.init_output_bias(box[-1].bias, cls[-1].bias, stride)

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        return [torch.cat([box(f), cls(f)], 1) for f, box, cls in zip(feats, self.box, self.cls, strict=True)]
