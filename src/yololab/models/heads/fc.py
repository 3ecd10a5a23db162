"""A YOLOv1-style global head: the top feature map, flattened, through fully-connected layers."""

from __future__ import annotations

import torch
from torch import nn

from yololab.models.heads.base import DetectionHead, HeadArgs, Unpack
from yololab.nn.blocks import ConvNormAct
from yololab.nn.mlp import MLP


class FCHead(DetectionHead):
    """Pools the top (stride 32) map to ``grid`` x ``grid``, flattens it, and predicts the whole
    ``grid`` x ``grid`` prediction map with a box MLP and a class MLP of ``depth`` hidden layers of
    ``width`` units. Every output sees the whole image. The map is decoded and trained like any
    head's, with stride = image size / ``grid``. The shared arguments (``strides``, ``reg_max``, the activations,
    ``img_size``): :class:`HeadArgs`."""

    def __init__(
        self,
        in_channels: tuple[int, ...],
        num_classes: int,
        width: int = 1024,
        depth: int = 2,
        norm: str = "batch",
        dropout: float = 0.0,
        grid: int = 7,
        reduce: int | None = None,
        **common: Unpack[HeadArgs],
    ) -> None:
        super().__init__(num_classes, **common)
        self.grid = grid
        top = in_channels[-1]
        # optional 1x1 projection of the top map before flattening: fewer inputs to the first FC layer
        self.reduce = ConvNormAct(top, reduce, 1, activation=self.act_spec, norm=norm) if reduce else nn.Identity()
        self.pool = nn.AdaptiveAvgPool2d(grid)
        flat = (reduce or top) * grid * grid
        cells = grid * grid
        self.box = MLP(flat, cells * 4 * self.reg_max, width, depth, self.box_spec, norm, dropout)
        self.cls = MLP(flat, cells * num_classes, width, depth, self.cls_spec, norm, dropout)
        self.init_output_bias(self.box[-1].bias, self.cls[-1].bias, self.strides[-1])

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        x = self.pool(self.reduce(feats[-1])).flatten(1)[..., None, None]  # [B, C*g*g, 1, 1]
        b, g = x.shape[0], self.grid
        box = self.box(x).view(b, 4 * self.reg_max, g, g)
        cls = self.cls(x).view(b, self.num_classes, g, g)
        return [torch.cat([box, cls], 1)]
