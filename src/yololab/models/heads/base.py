"""What every detection head shares: the output layout, branch activations and prior biases."""

from __future__ import annotations

import math

import torch
from torch import nn

from yololab.nn.activations import ActivationSpec


class DetectionHead(nn.Module):
    """A head maps neck features to raw maps [B, 4 * reg_max + num_classes, H, W], one per level.

    The box branch predicts ``reg_max`` distance bins per side, the class branch one logit per
    class. Both branches end in a linear layer; each may have its own activation spec.
    """

    def __init__(
        self,
        num_classes: int,
        reg_max: int,
        activation: str,
        box_activation: str | None,
        cls_activation: str | None,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.reg_max = reg_max
        self.box_spec = ActivationSpec.parse(box_activation or activation)
        self.cls_spec = ActivationSpec.parse(cls_activation or activation)

    @property
    def num_outputs(self) -> int:
        return 4 * self.reg_max + self.num_classes

    def init_output_bias(self, box_bias: torch.Tensor, cls_bias: torch.Tensor, stride: float) -> None:
        """Box bins start uniform; class logits start at a prior of ~5 objects per 640x640 image."""
        with torch.no_grad():
            box_bias.fill_(1.0)
            cls_bias.fill_(math.log(5 / self.num_classes / (640 / stride) ** 2))
