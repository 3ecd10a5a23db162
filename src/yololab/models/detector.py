"""The detector: backbone -> neck -> head, built from three component factories."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable

import torch
from torch import nn

from yololab.models.heads.base import DetectionHead
from yololab.nn.init import apply_init

COMPONENTS = ("backbone", "neck", "head")


class YOLODetector(nn.Module):
    """Wires the components by their channels; each factory is a Hydra ``_partial_`` of its class.

    Components are built and initialised one after another, so the backbone's and the neck's
    weights depend on the seed alone, never on which head follows them. Components named in ``frozen``
    (see :meth:`freeze`) keep their weights and their BatchNorm statistics.
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
        self.frozen: tuple[str, ...] = ()

    def freeze(self, parts: Iterable[str]) -> None:
        """Fix the weights of ``parts`` (of backbone, neck, head): no gradient, no optimiser entry (``optim``
        takes trainable parameters only), BatchNorm in eval mode so that its statistics stay as loaded."""
        parts = tuple(parts)
        unknown = [p for p in parts if p not in COMPONENTS]
        if unknown:
            raise ValueError(f"model.freeze: unknown part(s) {unknown}; valid: {list(COMPONENTS)}")
        self.frozen = tuple(p for p in COMPONENTS if p in parts)
        for name in self.frozen:
            getattr(self, name).requires_grad_(False)
        self.train(self.training)

    def train(self, mode: bool = True) -> YOLODetector:
        """Lightning calls ``train()`` every epoch: frozen parts stay in eval mode (BatchNorm statistics fixed)."""
        super().train(mode)
        for name in self.frozen:
            getattr(self, name).eval()
        return self

    @property
    def reg_max(self) -> int:
        return self.head.reg_max

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Raw head maps, one per level: [B, 4 * reg_max + num_classes, H, W]."""
        return self.head(self.features(images))

    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The neck's maps; frozen leading parts run without autograd (nothing behind them needs a gradient)."""
        with torch.no_grad() if "backbone" in self.frozen else contextlib.nullcontext():
            x = self.backbone(images)
        with torch.no_grad() if {"backbone", "neck"} <= set(self.frozen) else contextlib.nullcontext():
            return self.neck(x)
