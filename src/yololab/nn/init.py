"""Activation-aware initialisation.

One rule for every activation: the weights feeding an activation f are drawn with
std = gain / sqrt(fan_in), where gain = 1 / sqrt(E[f(z)^2]) for z ~ N(0, 1). The second moment
of the pre-activations is then preserved from layer to layer. The rule reproduces Kaiming's gain
exactly for ReLU and LeakyReLU (sqrt(2 / (1 + a^2))) and LeCun-normal for SELU (gain 1); for the
smooth activations (SiLU, GELU, ELU, Mish, ...) it is the same second-moment argument, computed
numerically instead of by a closed form.
"""

from __future__ import annotations

import math
from functools import cache

import torch
from torch import nn

from yololab.nn.activations import ActivationSpec
from yololab.nn.protocol import blocks

INIT_MODES = ("auto", "torch_default")


@cache
def activation_gain(spec: ActivationSpec) -> float:
    """1 / sqrt(E[f(z)^2]) under a standard normal, by the trapezoid rule on [-12, 12]."""
    z = torch.linspace(-12.0, 12.0, 48001, dtype=torch.float64)
    act = spec.build(1).double().eval()  # eval: RReLU uses its mean slope
    with torch.no_grad():
        fz = act(z.view(1, 1, -1)).view(-1)
    density = torch.exp(-0.5 * z**2) / math.sqrt(2 * math.pi)
    second_moment = torch.trapezoid(fz**2 * density, z).item()
    return 1.0 / math.sqrt(second_moment)


def init_for_activation(weight: torch.Tensor, spec: ActivationSpec, gain_scale: float = 1.0) -> None:
    """Normal init with the activation's gain (times ``gain_scale``, for experiments with a wrong gain)."""
    fan_in = weight[0].numel()
    std = gain_scale * activation_gain(spec) / math.sqrt(fan_in)
    with torch.no_grad():
        weight.normal_(0.0, std)


def apply_init(model: nn.Module, mode: str = "auto") -> nn.Module:
    """Initialise every layer that feeds an activation (the blocks of :mod:`yololab.nn.protocol`, in module
    order); an activation outside any block stops with its name."""
    if mode not in INIT_MODES:
        raise ValueError(f"unknown init {mode!r}; valid: {', '.join(INIT_MODES)}")
    if mode == "auto":
        for block in blocks(model):
            init_for_activation(block.weight_layer.weight, block.spec)
            if block.weight_layer.bias is not None:
                nn.init.zeros_(block.weight_layer.bias)
    return model
