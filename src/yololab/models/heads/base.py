"""What every detection head shares: the output layout, branch activations and prior biases."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import TypedDict

import numpy as np
import torch
from scipy.optimize import brentq
from torch import nn

from yololab.nn.activations import Activation, ActivationSpec

if sys.version_info >= (3, 11):
    from typing import Unpack
else:  # typing-extensions comes with torch
    from typing_extensions import Unpack

__all__ = ["REFERENCE_IMG_SIZE", "DetectionHead", "HeadArgs", "PerLevelHead", "Unpack", "box_prior_logits"]

# the input size at which the reference's uniform box bins give every level a box that suits it
REFERENCE_IMG_SIZE = 640


def box_prior_logits(reg_max: int, img_size: int | None) -> torch.Tensor:
    """Bin logits [reg_max] whose softmax has mean ``(reg_max - 1) / 2 * min(img_size, 640) / 640`` bins.

    Uniform bins (the reference init, ``img_size`` None or >= 640) start every side at (reg_max - 1) / 2 strides:
    at stride 32, 240 px, a 480 px box that suits a 640 px input. At 160-224 px that box is 2-3 times the image,
    its IoU^6 in the task-aligned metric keeps the level out of every box's top-k, and its box branch never
    trains. Scaled with the input, every level starts with the box, relative to the image, that it has at 640 px.
    The distribution is the most spread one with that mean (logits theta * bin; theta = 0 is uniform).
    """
    if img_size is None or img_size >= REFERENCE_IMG_SIZE:
        return torch.zeros(reg_max)
    bins = np.arange(reg_max, dtype=np.float64)
    target = (reg_max - 1) / 2 * img_size / REFERENCE_IMG_SIZE

    def mean_minus_target(theta: float) -> float:
        p = np.exp(theta * bins - (theta * bins).max())
        return float(p @ bins / p.sum()) - target

    return torch.from_numpy(brentq(mean_minus_target, -50.0, 0.0, xtol=1e-12) * bins).float()


class HeadArgs(TypedDict, total=False):
    """The keyword arguments every head takes and hands to :class:`DetectionHead`, which gives their defaults: a
    head's constructor is ``(self, in_channels, num_classes, <its own>, **common: Unpack[HeadArgs])`` calling
    ``super().__init__(num_classes, **common)``. A checkpoint's ``model.head`` values are checked against these
    types (``stored_model.parameters``)."""

    strides: tuple[float, ...]
    reg_max: int
    activation: Activation
    box_activation: Activation | None
    cls_activation: Activation | None
    img_size: int | None


class DetectionHead(nn.Module):
    """A head maps neck features to raw maps [B, 4 * reg_max + num_classes, H, W], one per level.

    The box branch predicts ``reg_max`` distance bins per side, the class branch one logit per
    class. Both branches end in a linear layer; each may have its own activation spec (``box_activation``,
    ``cls_activation``; None: ``activation``). ``strides`` are the levels' (the head's body reads
    ``self.strides``); ``img_size`` is the input size the box bias starts for (see :func:`box_prior_logits`).
    The arguments after ``num_classes`` are :class:`HeadArgs` (a test keeps the two alike), in the order they had
    before it: a fork head calling ``super().__init__(num_classes, reg_max, activation, box_activation,
    cls_activation, img_size)`` still works.
    """

    def __init__(
        self,
        num_classes: int,
        reg_max: int = 16,
        activation: Activation = "silu",
        box_activation: Activation | None = None,
        cls_activation: Activation | None = None,
        img_size: int | None = None,
        strides: tuple[float, ...] = (8, 16, 32),
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.reg_max = reg_max
        self.strides = tuple(strides)
        self.img_size = img_size
        self.act_spec = ActivationSpec.parse(activation)
        self.box_spec = ActivationSpec.parse(box_activation or activation)
        self.cls_spec = ActivationSpec.parse(cls_activation or activation)

    def init_output_bias(self, box_bias: torch.Tensor, cls_bias: torch.Tensor, stride: float) -> None:
        """Box bins start at :func:`box_prior_logits` for ``img_size`` (uniform at 640 px and above); class logits
        start at a prior of ~5 objects per 640x640 image. ``box_bias`` is side-major: [4, reg_max, cells]."""
        with torch.no_grad():
            box_bias.view(4, self.reg_max, -1).copy_(1.0 + box_prior_logits(self.reg_max, self.img_size)[:, None])
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
