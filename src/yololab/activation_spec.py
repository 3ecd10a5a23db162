"""Activation specs, the strings that name an activation (``leaky_relu:0.1``), without torch.

``name`` uses the defaults, ``name:p1,p2`` sets the parameters in the order listed in ``SIGNATURES``. The
grammar lives here, apart from the modules it builds (:mod:`yololab.nn.activations`), so that code which
never builds a network, such as the study report, reads a run's spec exactly as the model did.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Signature:
    params: tuple[str, ...] = ()
    defaults: tuple[float, ...] = ()


SIGNATURES: dict[str, Signature] = {
    "relu": Signature(),
    "leaky_relu": Signature(("negative_slope",), (0.01,)),
    "elu": Signature(("alpha",), (1.0,)),
    "selu": Signature(),
    "celu": Signature(("alpha",), (1.0,)),
    "gelu": Signature(),
    "gelu_tanh": Signature(),
    "silu": Signature(),
    "mish": Signature(),
    "hardswish": Signature(),
    "prelu": Signature(("init",), (0.25,)),
    "rrelu": Signature(("lower", "upper"), (1 / 8, 1 / 3)),
    "tanh": Signature(),
    "identity": Signature(),
}


def valid_specs() -> str:
    """Every accepted spec with its parameters, for error messages and docs."""
    return ", ".join(f"{name}:{','.join(s.params)}" if s.params else name for name, s in SIGNATURES.items())


def _fail(spec, why: str):
    raise ValueError(f"activation {str(spec)!r}: {why}; valid specs: {valid_specs()}") from None


def _check_params(spec, name: str, params: tuple[float, ...]) -> None:
    if name == "leaky_relu" and params[0] < 0:
        _fail(spec, "negative_slope must be >= 0 (a negative slope makes it non-monotonic)")
    if name in ("elu", "celu") and params[0] <= 0:
        _fail(spec, "alpha must be > 0")
    if name == "rrelu" and not 0 <= params[0] <= params[1]:
        _fail(spec, "needs 0 <= lower <= upper")


@dataclass(frozen=True)
class ActivationSpec:
    """A parsed activation spec: the registry name and its numeric parameters."""

    name: str
    params: tuple[float, ...] = ()

    @classmethod
    def parse(cls, spec: str | ActivationSpec) -> ActivationSpec:
        if isinstance(spec, ActivationSpec):
            return spec if isinstance(spec, cls) else cls(spec.name, spec.params)
        text = str(spec).strip().lower()
        name, _, arg_text = text.partition(":")
        signature = SIGNATURES.get(name)
        if signature is None:
            _fail(spec, "unknown activation")
        args = arg_text.split(",") if ":" in text else []
        if any(not a.strip() for a in args):
            _fail(spec, "a parameter is empty (write the value after ':', or drop the ':' for the defaults)")
        if len(args) > len(signature.params):
            _fail(spec, f"takes at most {len(signature.params)} parameter(s) ({', '.join(signature.params) or 'none'})")
        try:
            values = tuple(float(a) for a in args)
        except ValueError:
            _fail(spec, "parameters must be numbers")
        if not all(math.isfinite(v) for v in values):
            _fail(spec, "parameters must be finite")
        params = values + signature.defaults[len(values) :]
        _check_params(spec, name, params)
        return cls(name, params)

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
