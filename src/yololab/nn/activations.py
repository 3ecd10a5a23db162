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

from torch import nn

from yololab import activation_spec
from yololab.activation_spec import (
    SIGNATURES,
    Activation,
    ActivationSpec,
    Check,
    Signature,
    add_signature,
    fail,
    requires,
    valid_specs,
)

__all__ = ["REGISTRY", "Activation", "ActivationSpec", "build_activation", "make_module", "register_activation",
           "requires", "valid_specs"]

REGISTRY = SIGNATURES  # the named specs: one table, in yololab.activation_spec


def register_activation(name: str, factory: Callable[..., nn.Module], params: Sequence[str] = (),
                        defaults: Sequence[float] = (), check: Check | None = None, per_channel: bool = False) -> None:
    """Make ``name`` a spec: ``name:p1,p2`` builds ``factory(p1, p2)`` (``factory(channels, p1, p2)`` with
    ``per_channel``), ``name`` alone uses ``defaults`` (one per parameter). ``check(params)`` returns why
    the parameters are invalid (the error names the spec), or None; :func:`activation_spec.requires`
    makes one: ``check=requires(lambda p: p[0] > 0, "beta must be > 0")``."""
    if not callable(factory):
        raise ValueError(f"register_activation({name!r}): the factory must be callable, got {factory!r}")
    add_signature(name, Signature(tuple(params), tuple(float(d) for d in defaults), check, factory, per_channel))


def import_class(spec: ActivationSpec, path: str | None = None) -> type[nn.Module]:
    """The ``nn.Module`` class a dotted path names (``path``, else the spec's own name)."""
    module_name, _, attr = (path or spec.name).rpartition(".")
    try:
        target = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        fail(spec, f"cannot import it ({type(err).__name__}: {err})", listing=False)
    if not (isinstance(target, type) and issubclass(target, nn.Module)):
        fail(spec, f"{path or spec.name} is not an nn.Module class", listing=False)
    return target


def make_module(spec: ActivationSpec, channels: int | None = None) -> nn.Module:
    """A new module for ``spec`` (what :meth:`ActivationSpec.build` returns)."""
    module = _make(spec, channels)
    if not isinstance(module, nn.Module):
        fail(spec, f"it made a {type(module).__name__}, not an nn.Module", listing=False)
    return module


def _make(spec: ActivationSpec, channels: int | None):
    if spec.factory is None and not spec.is_path:
        entry = activation_spec.SIGNATURES[spec.name]
        factory = import_class(spec, entry.factory) if isinstance(entry.factory, str) else entry.factory
        args = (channels or 1, *spec.params) if entry.per_channel else spec.params
        return factory(*args, **dict(entry.kwargs))
    factory = spec.factory or import_class(spec)
    try:
        return factory(*spec.params)
    except TypeError as err:
        fail(spec, f"calling it with {list(spec.params) or 'no arguments'} failed ({err}); give a "
             "functools.partial, or register_activation it with its parameters", listing=False)


def build_activation(spec: Activation, channels: int | None = None) -> nn.Module:
    """Shorthand: parse ``spec`` (a spec string, a class or a callable) and build a fresh module."""
    return ActivationSpec.parse(spec).build(channels)
