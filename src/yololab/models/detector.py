"""The detector: backbone -> neck -> head, built from three component factories."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from yololab.models.heads.base import DetectionHead
from yololab.nn.init import apply_init


class YOLODetector(nn.Module):
    """Wires the components by their channels; each factory is a Hydra ``_partial_`` of its class.

    Components are built and initialised one after another, so the backbone's and the neck's
    weights depend on the seed alone, never on which head follows them.
    """

    def __init__(
        self,
        backbone: Callable[..., nn.Module],
        neck: Callable[..., nn.Module],
        head: Callable[..., DetectionHead],
        num_classes: int,
        in_channels: int = 3,
        init: str = "auto",
    ) -> None:
        super().__init__()
        self.backbone = apply_init(backbone(in_channels=in_channels), init)
        self.neck = apply_init(neck(in_channels=self.backbone.out_channels), init)
        self.head = apply_init(head(in_channels=self.neck.out_channels, num_classes=num_classes), init)
        self.num_classes = num_classes
        self.in_channels = in_channels

    @property
    def reg_max(self) -> int:
        return self.head.reg_max

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Raw head maps, one per level: [B, 4 * reg_max + num_classes, H, W]."""
        return self.head(self.neck(self.backbone(images)))
