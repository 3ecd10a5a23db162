"""Convolutional building blocks of the YOLO family: Conv-Norm-Act, C2f and SPPF.

Every block takes an activation spec and builds its own activation instance per layer. ``ConvNormAct`` is the
reference form of the block protocol (:mod:`yololab.nn.protocol`): ``weight_layer``, ``norm``, ``activation``
and ``activation_spec``, which init, the activation census, the gradient-flow monitor and BatchNorm fusion read.
"""

from __future__ import annotations

import torch
from torch import nn

from yololab.nn.activations import Activation, ActivationSpec
from yololab.nn.protocol import fuse_batchnorm  # noqa: F401  (its home before the block protocol)

NORMS = ("batch", "layer", "none")


class ChannelLayerNorm(nn.LayerNorm):
    """LayerNorm over the channels at each location, so a 1x1 conv stack behaves as a per-location MLP."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def build_norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.03)
    if kind == "layer":
        return ChannelLayerNorm(channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; valid: {', '.join(NORMS)}")


class ConvNormAct(nn.Sequential):
    """Conv2d -> norm -> activation -> optional dropout; 'same' padding for odd kernels.

    A fully-connected layer is this block with a 1x1 kernel on a 1x1 map. Dropout becomes
    AlphaDropout under SELU, the only dropout that keeps activations self-normalised. ``groups`` as in
    ``nn.Conv2d`` (``groups=in_channels``: a depthwise convolution).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 1,
        stride: int = 1,
        activation: Activation = "silu",
        norm: str = "batch",
        dropout: float = 0.0,
        groups: int = 1,
    ) -> None:
        spec = ActivationSpec.parse(activation)
        layers = [
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=norm == "none",
                      groups=groups),
            build_norm(norm, out_channels),
            spec.build(out_channels),
        ]
        if dropout > 0:
            layers.append(nn.AlphaDropout(dropout) if spec.name == "selu" else nn.Dropout(dropout))
        super().__init__(*layers)
        self.activation_spec = spec

    @property
    def weight_layer(self) -> nn.Conv2d:
        """The layer whose output the activation sees, for activation-aware initialisation."""
        return self[0]

    @property
    def norm(self) -> nn.Module:
        return self[1]

    @property
    def activation(self) -> nn.Module:
        return self[2]


class Bottleneck(nn.Module):
    """Two 3x3 ConvNormAct with an optional residual connection."""

    def __init__(self, channels: int, shortcut: bool, activation: Activation) -> None:
        super().__init__()
        self.cv1 = ConvNormAct(channels, channels, 3, activation=activation)
        self.cv2 = ConvNormAct(channels, channels, 3, activation=activation)
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.shortcut else y


class C2f(nn.Module):
    """CSP block with two convolutions: split, a chain of bottlenecks whose every output is kept, fuse."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        repeats: int = 1,
        shortcut: bool = False,
        activation: Activation = "silu",
        expansion: float = 0.5,
    ) -> None:
        super().__init__()
        hidden = int(out_channels * expansion)
        self.cv1 = ConvNormAct(in_channels, 2 * hidden, 1, activation=activation)
        self.blocks = nn.ModuleList(Bottleneck(hidden, shortcut, activation) for _ in range(repeats))
        self.cv2 = ConvNormAct((2 + repeats) * hidden, out_channels, 1, activation=activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = list(self.cv1(x).chunk(2, dim=1))
        for block in self.blocks:
            parts.append(block(parts[-1]))
        return self.cv2(torch.cat(parts, dim=1))


class SPPF(nn.Module):
    """Spatial pyramid pooling, fast: three chained max-pools whose outputs are concatenated."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int = 5, activation: Activation = "silu"
    ) -> None:
        super().__init__()
        hidden = in_channels // 2
        self.cv1 = ConvNormAct(in_channels, hidden, 1, activation=activation)
        self.pool = nn.MaxPool2d(kernel_size, stride=1, padding=kernel_size // 2)
        self.cv2 = ConvNormAct(hidden * 4, out_channels, 1, activation=activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = [self.cv1(x)]
        for _ in range(3):
            y.append(self.pool(y[-1]))
        return self.cv2(torch.cat(y, dim=1))
