"""What each arm of a study is, read from its runs' configs: its head activation and, for the ReLU family, the
negative-side slope α (``relu`` is α = 0, ``leaky_relu:0.1`` α = 0.1).

The activation is the runs' ``model.head.activation``; without one, the arm's name read as a spec
(``leaky_relu:0.1``, or ``leaky_relu_0.1`` with the parameter after an underscore). Claims pick arms with
selectors: an arm's name, its activation's name (``leaky_relu``: every LeakyReLU arm) or its full spec.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from yololab.activation_spec import ActivationSpec
from yololab.study.runs import Run

SLOPE_FAMILY = ("relu", "leaky_relu")  # the activations with a negative-side slope α
REGISTERED = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(:(?P<params>[^:]+))?$")
NUMBER_SUFFIX = re.compile(r"_(?=[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$)")


@dataclass(frozen=True)
class Arm:
    name: str
    spec: ActivationSpec | None  # None when neither the config nor the name is a known activation

    @property
    def activation(self) -> str:
        return str(self.spec) if self.spec else "?"

    @property
    def family(self) -> str | None:
        return self.spec.name if self.spec else None

    @property
    def slope(self) -> float | None:
        """α of a ReLU or LeakyReLU arm, else None."""
        return self.spec.negative_slope if self.spec and self.spec.name in SLOPE_FAMILY else None

    def matches(self, selector: str) -> bool:
        return selector in (self.name, self.family, self.activation)


def parse_spec(text: str | None) -> ActivationSpec | None:
    """``text`` as an activation spec, also with its parameter after an underscore; None if it is none."""
    if not text:
        return None
    for candidate in (text, NUMBER_SUFFIX.sub(":", text, count=1)):
        try:
            return ActivationSpec.parse(candidate)
        except ValueError:
            continue
    return None


def registered_spec(text: str | None) -> ActivationSpec | None:
    """A run's configured activation that this process does not know, such as a name a fork added with
    ``register_activation`` in its own code: training checked it, so ``name:p1,p2`` is read as it stands."""
    match = REGISTERED.match(str(text or "").strip())
    if not match:
        return None
    params = match["params"].split(",") if match["params"] else []
    try:
        return ActivationSpec(match["name"].lower(), tuple(float(p) for p in params))
    except ValueError:
        return None


def arm_of(name: str, runs: list[Run]) -> Arm:
    configured = next((r.activation for r in runs if r.activation), None)
    return Arm(name, parse_spec(configured) or registered_spec(configured) or parse_spec(name))


def describe(groups: dict[str, list[Run]]) -> dict[str, Arm]:
    return {name: arm_of(name, runs) for name, runs in groups.items()}


def select(arms: dict[str, Arm], selectors: tuple[str, ...]) -> list[str]:
    """The arms any selector matches, in the arms' order."""
    return [name for name, arm in arms.items() if any(arm.matches(s) for s in selectors)]


def pick(arms: dict[str, Arm], selector: str) -> str | None:
    """One arm for ``selector``: the arm of that name, else the first whose activation matches."""
    if selector in arms:
        return selector
    matching = select(arms, (selector,))
    return matching[0] if matching else None


def default_baseline(arms: dict[str, Arm]) -> tuple[str, str]:
    """The baseline when neither the study file nor ``--baseline`` names one, and why it was chosen."""
    relu = pick(arms, "relu")
    if relu is not None:
        return relu, "default: the ReLU arm"
    first = sorted(arms)[0]
    return first, "default without a ReLU arm: the first arm by name"
