"""A per-location fully-connected head: an MLP at every anchor point of every pyramid level."""

from __future__ import annotations

from yololab.models.heads.base import PerLevelHead
from yololab.nn.activations import Activation
from yololab.nn.mlp import MLP


class MLPHead(PerLevelHead):
    """Per level, a box MLP and a class MLP of ``depth`` hidden layers of ``width`` units each,
    applied at every location (1x1 convolutions on the feature map); the output layers are linear."""

    def __init__(
        self,
        in_channels: tuple[int, ...],
        num_classes: int,
        strides: tuple[float, ...] = (8, 16, 32),
        reg_max: int = 16,
        activation: Activation = "silu",
        box_activation: Activation | None = None,
        cls_activation: Activation | None = None,
        width: int = 128,
        depth: int = 2,
        norm: str = "batch",
        dropout: float = 0.0,
        img_size: int | None = None,
    ) -> None:
        super().__init__(num_classes, reg_max, activation, box_activation, cls_activation, img_size)
        self.build_branches(
            in_channels, strides,
            lambda kind, c, out, act: MLP(c, out, width, depth, act, norm, dropout),
        )
