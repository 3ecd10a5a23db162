"""A per-location fully-connected head: an MLP at every anchor point of every pyramid level."""

from __future__ import annotations

from yololab.models.heads.base import HeadArgs, PerLevelHead, Unpack
from yololab.nn.mlp import MLP


class MLPHead(PerLevelHead):
    """Per level, a box MLP and a class MLP of ``depth`` hidden layers of ``width`` units each,
    applied at every location (1x1 convolutions on the feature map); the output layers are linear.
    The shared arguments (``strides``, ``reg_max``, the activations, ``img_size``): :class:`HeadArgs`."""

    def __init__(self, in_channels: tuple[int, ...], num_classes: int, width: int = 128, depth: int = 2,
                 norm: str = "batch", dropout: float = 0.0, **common: Unpack[HeadArgs]) -> None:
        super().__init__(num_classes, **common)
        self.build_branches(
            in_channels, self.strides,
            lambda kind, c, out, act: MLP(c, out, width, depth, act, norm, dropout),
        )
