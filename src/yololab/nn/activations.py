"""The activation registry: one string spec, such as ``leaky_relu:0.1``, names a fresh activation module.

Specs are plain strings so that a sweep can enumerate them and a Hydra override can set them.
``name`` uses the defaults, ``name:p1,p2`` sets the parameters in the order listed in ``REGISTRY``.
Every call to :meth:`ActivationSpec.build` returns a new module: layers never share an activation.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True)
class _Entry:
    factory: Callable[..., nn.Module]
    params: tuple[str, ...] = ()
    defaults: tuple[float, ...] = ()
    per_channel: bool = False  # the factory takes ``channels`` first (PReLU)


REGISTRY: dict[str, _Entry] = {
    "relu": _Entry(nn.ReLU),
    "leaky_relu": _Entry(lambda slope: nn.LeakyReLU(slope), ("negative_slope",), (0.01,)),
    "elu": _Entry(lambda alpha: nn.ELU(alpha), ("alpha",), (1.0,)),
    "selu": _Entry(nn.SELU),
    "celu": _Entry(lambda alpha: nn.CELU(alpha), ("alpha",), (1.0,)),
    "gelu": _Entry(nn.GELU),
    "gelu_tanh": _Entry(lambda: nn.GELU(approximate="tanh")),
    "silu": _Entry(nn.SiLU),
    "mish": _Entry(nn.Mish),
    "hardswish": _Entry(nn.Hardswish),
    "prelu": _Entry(lambda ch, init: nn.PReLU(ch, init), ("init",), (0.25,), per_channel=True),
    "rrelu": _Entry(lambda lo, hi: nn.RReLU(lo, hi), ("lower", "upper"), (1 / 8, 1 / 3)),
    "tanh": _Entry(nn.Tanh),
    "identity": _Entry(nn.Identity),
}


def valid_specs() -> str:
    """Every accepted spec with its parameters, for error messages and docs."""
    return ", ".join(
        f"{name}:{','.join(e.params)}" if e.params else name for name, e in REGISTRY.items()
    )


def _fail(spec, why: str):
    raise ValueError(f"activation {str(spec)!r}: {why}; valid specs: {valid_specs()}") from None


@dataclass(frozen=True)
class ActivationSpec:
    """A parsed activation spec: the registry name and its numeric parameters."""

    name: str
    params: tuple[float, ...] = ()

    @classmethod
    def parse(cls, spec: str | ActivationSpec) -> ActivationSpec:
        if isinstance(spec, ActivationSpec):
            return spec
        text = str(spec).strip().lower()
        name, _, arg_text = text.partition(":")
        entry = REGISTRY.get(name)
        if entry is None:
            _fail(spec, "unknown activation")
        args = arg_text.split(",") if ":" in text else []
        if any(not a.strip() for a in args):
            _fail(spec, "a parameter is empty (write the value after ':', or drop the ':' for the defaults)")
        if len(args) > len(entry.params):
            _fail(spec, f"takes at most {len(entry.params)} parameter(s) ({', '.join(entry.params) or 'none'})")
        try:
            values = tuple(float(a) for a in args)
        except ValueError:
            _fail(spec, "parameters must be numbers")
        if not all(math.isfinite(v) for v in values):
            _fail(spec, "parameters must be finite")
        params = values + entry.defaults[len(values) :]
        if name == "leaky_relu" and params[0] < 0:
            _fail(spec, "negative_slope must be >= 0 (a negative slope makes it non-monotonic)")
        if name in ("elu", "celu") and params[0] <= 0:
            _fail(spec, "alpha must be > 0")
        if name == "rrelu" and not 0 <= params[0] <= params[1]:
            _fail(spec, "needs 0 <= lower <= upper")
        return cls(name, params)

    def build(self, channels: int | None = None) -> nn.Module:
        """A new activation module; ``channels`` sizes per-channel activations (PReLU)."""
        entry = REGISTRY[self.name]
        if entry.per_channel:
            return entry.factory(channels or 1, *self.params)
        return entry.factory(*self.params)

    @property
    def negative_slope(self) -> float | None:
        """Slope on the negative side for the piecewise-linear family, else None."""
        if self.name == "relu":
            return 0.0
        if self.name in ("leaky_relu", "prelu"):
            return self.params[0]
        if self.name == "rrelu":
            return (self.params[0] + self.params[1]) / 2
        return None

    def __str__(self) -> str:
        if not self.params:
            return self.name
        return f"{self.name}:{','.join(f'{p:g}' for p in self.params)}"


def build_activation(spec: str | ActivationSpec, channels: int | None = None) -> nn.Module:
    """Shorthand: parse ``spec`` and build a fresh module."""
    return ActivationSpec.parse(spec).build(channels)
