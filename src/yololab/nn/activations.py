"""The activation registry: one string spec, such as ``leaky_relu:0.1``, names a fresh activation module.

Specs are plain strings so that a sweep can enumerate them and a Hydra override can set them.
The grammar of a spec is :mod:`yololab.activation_spec` (no torch); here each name gets its module.
Every call to :meth:`ActivationSpec.build` returns a new module: layers never share an activation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from yololab import activation_spec
from yololab.activation_spec import SIGNATURES, valid_specs

__all__ = ["REGISTRY", "ActivationSpec", "build_activation", "valid_specs"]


@dataclass(frozen=True)
class _Entry:
    factory: Callable[..., nn.Module]  # called with the spec's parameters (SIGNATURES)
    per_channel: bool = False  # the factory takes ``channels`` first (PReLU)


REGISTRY: dict[str, _Entry] = {
    "relu": _Entry(nn.ReLU),
    "leaky_relu": _Entry(lambda slope: nn.LeakyReLU(slope)),
    "elu": _Entry(lambda alpha: nn.ELU(alpha)),
    "selu": _Entry(nn.SELU),
    "celu": _Entry(lambda alpha: nn.CELU(alpha)),
    "gelu": _Entry(nn.GELU),
    "gelu_tanh": _Entry(lambda: nn.GELU(approximate="tanh")),
    "silu": _Entry(nn.SiLU),
    "mish": _Entry(nn.Mish),
    "hardswish": _Entry(nn.Hardswish),
    "prelu": _Entry(lambda ch, init: nn.PReLU(ch, init), per_channel=True),
    "rrelu": _Entry(lambda lo, hi: nn.RReLU(lo, hi)),
    "tanh": _Entry(nn.Tanh),
    "identity": _Entry(nn.Identity),
}
assert set(REGISTRY) == set(SIGNATURES), "every spec name needs a module factory"


class ActivationSpec(activation_spec.ActivationSpec):
    """A parsed activation spec (:class:`yololab.activation_spec.ActivationSpec`) that builds its module."""

    def build(self, channels: int | None = None) -> nn.Module:
        """A new activation module; ``channels`` sizes per-channel activations (PReLU)."""
        entry = REGISTRY[self.name]
        if entry.per_channel:
            return entry.factory(channels or 1, *self.params)
        return entry.factory(*self.params)


def build_activation(spec: str | activation_spec.ActivationSpec, channels: int | None = None) -> nn.Module:
    """Shorthand: parse ``spec`` and build a fresh module."""
    return ActivationSpec.parse(spec).build(channels)
