"""Activation specs, the strings that name an activation (``leaky_relu:0.1``), without torch.

``name`` uses the defaults, ``name:p1,p2`` sets the parameters in the order listed in ``SIGNATURES``; each
entry there also says which parameter values are invalid (``check``). A dotted path to an ``nn.Module``
class is a spec too (``torch.nn.Hardtanh``, ``myfork.acts.MyAct:2``: the numbers are its constructor's
positional arguments), so a config or a sweep can try an activation yololab does not list. In Python an
activation may also be given as a class or a callable returning a new module (``nn.Hardtanh``,
``functools.partial(MyAct, beta=2)``): :meth:`ActivationSpec.parse` wraps it, named after it.

One class and one table: the grammar, the named specs and what builds each live here, torch-free (a factory is
a dotted path until a module is built), so that code which never builds a network, such as the study report,
reads a run's spec exactly as the model did; :mod:`yololab.nn.activations` builds the modules and adds named
specs (``register_activation``).
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

Check = Callable[[tuple[float, ...]], "str | None"]  # the parameters -> why they are invalid, or None


@dataclass(frozen=True)
class Signature:
    """A named spec: its parameters, their defaults and check, and what builds its module: ``factory``, a
    callable or a dotted path imported when a module is first built (so this table needs no torch), called with
    the parameters (``channels`` first with ``per_channel``) and ``kwargs``."""

    params: tuple[str, ...] = ()
    defaults: tuple[float, ...] = ()
    check: Check | None = None
    factory: str | Callable | None = None
    per_channel: bool = False
    kwargs: tuple[tuple[str, object], ...] = ()


def requires(condition: Callable[[tuple[float, ...]], bool], why: str) -> Check:
    """A ``check``: ``why`` unless ``condition(params)`` holds."""
    return lambda params: None if condition(params) else why


POSITIVE_ALPHA = requires(lambda p: p[0] > 0, "alpha must be > 0")

# the one table of named specs (yololab.nn.activations.register_activation adds to it)
SIGNATURES: dict[str, Signature] = {
    "relu": Signature(factory="torch.nn.ReLU"),
    "leaky_relu": Signature(("negative_slope",), (0.01,), requires(
        lambda p: p[0] >= 0, "negative_slope must be >= 0 (a negative slope makes it non-monotonic)"),
        "torch.nn.LeakyReLU"),
    "elu": Signature(("alpha",), (1.0,), POSITIVE_ALPHA, "torch.nn.ELU"),
    "selu": Signature(factory="torch.nn.SELU"),
    "celu": Signature(("alpha",), (1.0,), POSITIVE_ALPHA, "torch.nn.CELU"),
    "gelu": Signature(factory="torch.nn.GELU"),
    "gelu_tanh": Signature(factory="torch.nn.GELU", kwargs=(("approximate", "tanh"),)),
    "silu": Signature(factory="torch.nn.SiLU"),
    "mish": Signature(factory="torch.nn.Mish"),
    "hardswish": Signature(factory="torch.nn.Hardswish"),
    "prelu": Signature(("init",), (0.25,), factory="torch.nn.PReLU", per_channel=True),
    "rrelu": Signature(("lower", "upper"), (1 / 8, 1 / 3), requires(lambda p: 0 <= p[0] <= p[1],
                                                                    "needs 0 <= lower <= upper"), "torch.nn.RReLU"),
    "tanh": Signature(factory="torch.nn.Tanh"),
    "identity": Signature(factory="torch.nn.Identity"),
}


def valid_specs() -> str:
    """Every accepted spec with its parameters, for error messages and docs."""
    return ", ".join(f"{name}:{','.join(s.params)}" if s.params else name for name, s in SIGNATURES.items())


def fail(spec, why: str, listing: bool = True):
    """Raise the ValueError every bad activation gives: the spec, why, and (``listing``) the valid specs."""
    valid = f"; valid specs: {valid_specs()}, or a dotted path to an nn.Module class (torch.nn.Hardtanh)"
    raise ValueError(f"activation {str(spec)!r}: {why}{valid if listing else ''}") from None


def add_signature(name: str, signature: Signature) -> None:
    """Make ``name`` a spec (:func:`yololab.nn.activations.register_activation` gives it its module)."""
    where = f"register_activation({name!r})"
    if not (isinstance(name, str) and name.isidentifier() and name == name.lower()):
        raise ValueError(f"{where}: a name is a lowercase identifier (no '.' or ':'), such as 'my_act'")
    if name in SIGNATURES:
        raise ValueError(f"{where}: '{name}' is already an activation; pick another name")
    if len(signature.defaults) != len(signature.params):
        raise ValueError(f"{where}: give one default per parameter ({len(signature.params)} parameter(s), "
                         f"{len(signature.defaults)} default(s)): '{name}' alone builds with the defaults")
    why = signature.check(signature.defaults) if signature.check else None
    if why:
        raise ValueError(f"{where}: its defaults fail its own check: {why}")
    SIGNATURES[name] = signature


def callable_name(factory) -> str:
    """A readable name for an activation given as a callable: ``Hardtanh``, ``MyAct(beta=2)``."""
    if isinstance(factory, functools.partial):
        args = [*map(repr, factory.args), *(f"{k}={v!r}" for k, v in factory.keywords.items())]
        return f"{callable_name(factory.func)}({', '.join(args)})"
    return getattr(factory, "__name__", type(factory).__name__)


def parse_numbers(spec, args: list[str], names: tuple[str, ...] | None) -> tuple[float, ...]:
    """The parameters of ``spec`` as finite numbers, at most as many as ``names`` (None: any number)."""
    if any(not a.strip() for a in args):
        fail(spec, "a parameter is empty (write the value after ':', or drop the ':' for the defaults)")
    if names is not None and len(args) > len(names):
        fail(spec, f"takes at most {len(names)} parameter(s) ({', '.join(names) or 'none'})")
    try:
        values = tuple(float(a) for a in args)
    except ValueError:
        fail(spec, "parameters must be numbers")
    if not all(math.isfinite(v) for v in values):
        fail(spec, "parameters must be finite")
    return values


@dataclass(frozen=True)
class ActivationSpec:
    """A parsed activation spec: a registry name or a dotted class path, and its numeric parameters; or a
    ``factory`` given as a Python callable (then ``name`` is its readable name and there are no parameters)."""

    name: str
    params: tuple[float, ...] = ()
    factory: Callable | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, spec: str | ActivationSpec | Callable) -> ActivationSpec:
        if isinstance(spec, ActivationSpec):
            return spec
        torch = sys.modules.get("torch")  # a module instance can only come with torch loaded
        if torch is not None and isinstance(spec, torch.nn.Module):
            fail(type(spec).__name__, "give the class or a callable making a new module, not a module "
                 "(every layer builds its own)", listing=False)
        if callable(spec):
            return cls(callable_name(spec), (), spec)
        text = str(spec).strip()
        path, _, arg_text = text.partition(":")
        args = arg_text.split(",") if ":" in text else []
        if "." in path:
            if not all(part.isidentifier() for part in path.split(".")):
                fail(spec, "not a dotted path to a class (such as torch.nn.Hardtanh)")
            return cls(path, parse_numbers(spec, args, None))
        name = path.lower()
        signature = SIGNATURES.get(name)
        if signature is None:
            fail(spec, "unknown activation")
        params = parse_numbers(spec, args, signature.params)
        params += signature.defaults[len(params) :]
        why = signature.check(params) if signature.check else None
        if why:
            fail(spec, why)
        return cls(name, params)

    def build(self, channels: int | None = None):
        """A new activation module (:func:`yololab.nn.activations.make_module`, which imports torch);
        ``channels`` sizes per-channel activations (PReLU)."""
        from yololab.nn.activations import make_module

        return make_module(self, channels)

    @property
    def is_path(self) -> bool:
        """Whether the spec names a class by its dotted path (``torch.nn.Hardtanh``)."""
        return self.factory is None and "." in self.name

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


Activation = str | ActivationSpec | Callable  # what every component taking an activation accepts
