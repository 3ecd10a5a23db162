"""A trend claim's levels: the value of its declared parameter in each arm, and the check that its arms differ
in nothing else.

The parameter is ``activation.<name>`` (a parameter of the head activation's spec, e.g.
``activation.negative_slope``: ReLU is 0, ``leaky_relu:0.1`` is 0.1) or any numeric config key
(``model.optimizer.lr``). The arms' configs are compared key by key (each arm: the set of values its runs have);
keys that name a run rather than a design (seeds, output folders, the checkpoint to resume, tags) are left out,
and so are the study file's ``ignore_keys``. Any other key that differs between the arms makes the trend not
applicable, and the report names it.
"""

from __future__ import annotations

import math
import re

import numpy as np

from yololab.activation_spec import SIGNATURES
from yololab.study import measures, stats
from yololab.study.arms import Arm
from yololab.study.quantities import Quantity
from yololab.study.runs import Run
from yololab.study.verdicts import show

RUN_KEYS = re.compile(r"^(seed|data\.seed|arm|tags|ckpt_path|task_name|paths\..*|hydra\..*|.*(dir|dirpath|"
                      r"save_dir|_path|\.name|\.id|\.group))$")


def flat(config, prefix: str = "") -> dict[str, str]:
    if isinstance(config, dict):
        return {k: v for key, value in config.items() for k, v in flat(value, f"{prefix}{key}.").items()}
    return {prefix[:-1]: repr(config)}


def activation_value(arm: Arm, name: str) -> float | None:
    """The value of parameter ``name`` of ``arm``'s activation (its default when the spec omits it)."""
    if arm.spec is None:
        return None
    if name == "negative_slope":
        return arm.spec.negative_slope
    signature = SIGNATURES.get(arm.spec.name)
    params = signature.params if signature else ()
    return arm.spec.params[params.index(name)] if name in params and len(arm.spec.params) > params.index(name) \
        else None


def config_value(runs: list[Run], key: str) -> float | None:
    """The numeric value of ``key`` all of an arm's runs share, else None."""
    values = set()
    for run in runs:
        value = run.config
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        values.add(float(value))
    return values.pop() if len(values) == 1 else None


def parameter_values(parameter: str, names: list[str], arms: dict[str, Arm],
                     groups: dict[str, list[Run]]) -> dict[str, float | None]:
    if parameter.startswith("activation."):
        return {n: activation_value(arms[n], parameter.split(".", 1)[1]) for n in names}
    return {n: config_value(groups[n], parameter) for n in names}


def differing_keys(names: list[str], groups: dict[str, list[Run]], parameter: str,
                   ignore: tuple[str, ...]) -> list[str]:
    """The config keys, other than the parameter and what names a run, in which the arms differ."""
    expected = {parameter, *ignore} | ({"model.head.activation"} if parameter.startswith("activation.") else set())
    per_arm = []
    for name in names:
        values: dict[str, set[str]] = {}
        for run in groups[name]:
            for key, value in flat(run.config).items():
                values.setdefault(key, set()).add(value)
        per_arm.append(values)
    keys = set().union(*per_arm)
    return sorted(k for k in keys if k not in expected and not RUN_KEYS.match(k)
                  and len({frozenset(v.get(k, {"<absent>"})) for v in per_arm}) > 1)


def level_values(groups: dict[str, list[Run]], names: list[str], q: Quantity) -> dict[int, float]:
    """Per seed, the mean of ``q`` over the arms of one level (arms that differ in nothing)."""
    values: dict[int, list[float]] = {}
    for name in names:
        for seed, value in measures.by_seed(groups[name], q.read).items():
            values.setdefault(seed, []).append(value)
    return {seed: float(np.mean(v)) for seed, v in values.items()}


def trend_comparison(levels: dict[float, list[str]], groups: dict[str, list[Run]], q: Quantity, test: str,
                     parameter: str) -> dict:
    """The change of ``q`` from the lowest to the highest level (least-squares slope within each seed times the
    range), over the seeds that ran every level."""
    values = list(levels)
    by_level = [level_values(groups, names, q) for names in levels.values()]
    seeds = sorted(set.intersection(*(set(v) for v in by_level)))
    label = f"trend: change from {parameter} = {values[0]:g} to {values[-1]:g}"
    found = {"label": label, "kind": "trend", "quantity": q.name, "parameter": parameter, "levels": len(values),
             "level_values": values, "test": test, "degenerate": None, "p_other": math.nan,
             "means": [float(np.mean([v[s] for s in seeds])) if seeds else math.nan for v in by_level],
             "seeds": seeds}
    if not seeds:
        return {**found, "n": 0, "estimate": math.nan, "ci_low": math.nan, "ci_high": math.nan, "p": math.nan,
                "sd": math.nan}
    table = [[v[s] for s in seeds] for v in by_level]
    t = stats.trend(values, table, test)
    per_seed = np.asarray(t.per_seed)
    found.update(n=t.n, estimate=t.change, ci_low=t.ci_low, ci_high=t.ci_high, p=t.p,
                 sd=float(np.std(per_seed, ddof=1)) if t.n > 1 else math.nan)
    if t.n >= 2 and np.all(per_seed == per_seed[0]):
        exact = t.p if test == "sign_flip" else stats.trend(values, table).p
        change = show(float(per_seed[0]), q.factor)
        found.update(ci_low=math.nan, ci_high=math.nan, p=exact, test="sign_flip", degenerate=(
            f"every seed's change is {change} {q.unit}: no spread, so the t-test and the t interval do not apply; "
            f"permutation p (each seed's values shuffled among the levels) = {exact:.3g}"))
    return found
