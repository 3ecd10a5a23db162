"""The activation registry: one spec, such as ``leaky_relu:0.1``, names a fresh activation module.

Specs are plain strings so that a sweep can enumerate them and a Hydra override can set them.
The grammar of a spec is :mod:`yololab.activation_spec` (no torch); here each name gets its module.
Every call to :meth:`ActivationSpec.build` returns a new module: layers never share an activation.

Wherever yololab takes an activation (a head, a block, an MLP), it takes any of:

- a spec string: a registered name (``leaky_relu:0.1``) or a dotted path to an ``nn.Module`` class,
  with positional constructor arguments after ``:`` (``torch.nn.Hardtanh:-2,2``). From a config or the
  command line: ``model.head.activation=torch.nn.Hardtanh``; the run's ``arm`` is that string;
- in Python, a class or a callable returning a new module, called with no arguments for every layer:
  ``MLPHead(..., activation=nn.Hardtanh)``, ``activation=functools.partial(MyAct, beta=2)``;
- a name a fork adds with :func:`register_activation` (its parameters, defaults and checks), usable as a
  spec everywhere once the module registering it is imported (e.g. by the fork's entry script).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from torch import nn

from yololab import activation_spec
from yololab.activation_spec import SIGNATURES, Activation, Check, Signature, add_signature, fail, requires, valid_specs

__all__ = ["REGISTRY", "Activation", "ActivationSpec", "build_activation", "register_activation", "requires",
           "valid_specs"]


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


def register_activation(name: str, factory: Callable[..., nn.Module], params: Sequence[str] = (),
                        defaults: Sequence[float] = (), check: Check | None = None, per_channel: bool = False) -> None:
    """Make ``name`` a spec: ``name:p1,p2`` builds ``factory(p1, p2)`` (``factory(channels, p1, p2)`` with
    ``per_channel``), ``name`` alone uses ``defaults`` (one per parameter). ``check(params)`` returns why
    the parameters are invalid (the error names the spec), or None; :func:`activation_spec.requires`
    makes one: ``check=requires(lambda p: p[0] > 0, "beta must be > 0")``."""
    if not callable(factory):
        raise ValueError(f"register_activation({name!r}): the factory must be callable, got {factory!r}")
    add_signature(name, Signature(tuple(params), tuple(float(d) for d in defaults), check))
    REGISTRY[name] = _Entry(factory, per_channel)


def import_class(spec: activation_spec.ActivationSpec) -> type[nn.Module]:
    """The ``nn.Module`` class a dotted-path spec names."""
    module_name, _, attr = spec.name.rpartition(".")
    try:
        target = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        fail(spec, f"cannot import it ({type(err).__name__}: {err})", listing=False)
    if not (isinstance(target, type) and issubclass(target, nn.Module)):
        fail(spec, f"{spec.name} is not an nn.Module class", listing=False)
    return target


class ActivationSpec(activation_spec.ActivationSpec):
    """A parsed activation spec (:class:`yololab.activation_spec.ActivationSpec`) that builds its module."""

    @classmethod
    def parse(cls, spec: Activation) -> ActivationSpec:
        if isinstance(spec, nn.Module):
            fail(type(spec).__name__, "give the class or a callable making a new module, not a module "
                 "(every layer builds its own)", listing=False)
        return super().parse(spec)

    def build(self, channels: int | None = None) -> nn.Module:
        """A new activation module; ``channels`` sizes per-channel activations (PReLU)."""
        module = self._make(channels)
        if not isinstance(module, nn.Module):
            fail(self, f"it made a {type(module).__name__}, not an nn.Module", listing=False)
        return module

    def _make(self, channels: int | None):
        if self.factory is None and not self.is_path:
            entry = REGISTRY[self.name]
            return entry.factory(channels or 1, *self.params) if entry.per_channel else entry.factory(*self.params)
        factory = self.factory or import_class(self)
        try:
            return factory(*self.params)
        except TypeError as err:
            fail(self, f"calling it with {list(self.params) or 'no arguments'} failed ({err}); give a "
                 "functools.partial, or register_activation it with its parameters", listing=False)


def build_activation(spec: Activation, channels: int | None = None) -> nn.Module:
    """Shorthand: parse ``spec`` (a spec string, a class or a callable) and build a fresh module."""
    return ActivationSpec.parse(spec).build(channels)
