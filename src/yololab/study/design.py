"""What a study tests, all from its study file (``studies/<name>/study.yaml``, given to ``scripts/report.py
--study``): the code holds no claim of its own. Every key is checked; an unknown one is an error naming it and
the valid ones. A top-level ``study:`` mapping is read the same way::

    baseline: relu            # the arm every other is compared with (default: the ReLU arm, else the first arm)
    metric: val/mAP50-95      # the study's main metric: learning curves, epochs to target, the power table
    metrics: [val/mAP50, val/mAP50-95]   # shown per arm and against the baseline (descriptive unless a claim
                                         # tests the same comparison)
    confidence: 0.25          # the one confidence threshold of precision, recall and F1 (``precision`` means
                              # ``val/precision@0.25``); the runs log it with model.pr_confidences
    alpha: 0.05               # significance level of every family
    test: sign_flip           # sign_flip (exact, no assumption; p >= 2/2^n) | paired_t
    claims:
      - name: leaky_worse     # a claim: name, text, kind, arms, metric, direction, margin, family
        text: LeakyReLU in the head is worse than ReLU (lower mAP).
        arms: [leaky_relu]    # selectors: arm names, activation names or specs
        reference: relu       # default: the baseline
        metric: val/mAP50-95  # or a list; see yololab.study.quantities for the forms (auc(..), at(.., 0.2), ...)
        direction: lower      # the claimed sign of arm minus reference: higher | lower
        margin: 0.01          # the smallest difference that matters, in the metric's own units (not points)
        family: leaky         # claims naming one family share one Holm correction (default: the claim alone)
        need: all             # all | any: every comparison must show it, or one suffices
        beside: [val/mAP50]   # shown beside the verdict as its own descriptive family, not part of it
      - name: slope_trend
        kind: trend           # the metric across a numeric parameter; two-sided
        parameter: activation.negative_slope   # or any numeric config key (model.optimizer.lr)
        arms: [relu, leaky_relu]
        metric: val/mAP50-95
        margin: 0.01
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path

import yaml

from yololab.study.runs import StudyDataError
from yololab.study.stats import TESTS

DIRECTIONS = {"higher": +1, "lower": -1}
KINDS = ("compare", "trend")
NEEDS = ("all", "any")
REQUIRED = {"compare": ("name", "text", "arms", "metric", "direction", "margin"),
            "trend": ("name", "text", "arms", "metric", "margin", "parameter")}
CLAIM_KEYS = ("name", "text", "kind", "arms", "reference", "metric", "direction", "margin", "family", "need",
              "beside", "parameter", "ignore_keys")


@dataclass(frozen=True)
class ClaimSpec:
    key: str
    text: str
    kind: str = "compare"  # compare: arms against a reference; trend: the metric across a parameter
    metrics: tuple[str, ...] = ("val/mAP50-95",)
    arms: tuple[str, ...] = ()
    reference: str | None = None  # None: the baseline
    direction: int = -1  # the claimed sign of arm minus reference (0: a trend, either way)
    margin: float = 0.01
    family: str = ""  # the Holm family (default: the claim's key)
    need: str = "all"
    beside: tuple[str, ...] = ()
    parameter: str = ""  # a trend's parameter
    ignore_keys: tuple[str, ...] = ()  # config keys a trend's arms may differ in besides its parameter


@dataclass(frozen=True)
class Design:
    baseline: str | None = None
    metric: str = "val/mAP50-95"
    metrics: tuple[str, ...] = ("val/mAP50", "val/mAP50-95")
    confidence: float | None = None
    alpha: float = 0.05
    test: str = "sign_flip"
    target: float | None = None  # epochs-to-target's target; None: target_fraction of the best arm's mean
    target_fraction: float = 0.9
    claims: tuple[ClaimSpec, ...] = ()
    source: str = "defaults"  # where the design came from, for the report


TOP_KEYS = tuple(f.name for f in fields(Design) if f.name != "source")


def _unknown(keys, valid, where: str) -> None:
    unknown = sorted(set(keys) - set(valid))
    if unknown:
        raise StudyDataError(f"{where}: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                             f"valid keys: {', '.join(valid)}")


def _strings(value, where: str, key: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(v, str | int | float) and str(v) for v in items):
        raise StudyDataError(f"{where}: {key} is a name or a list of names")
    return tuple(str(v) for v in items)


def _number(value, where: str, key: str, low: float = 0.0, high: float = float("inf")) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise StudyDataError(f"{where}: {key} must be a number in [{low:g}, {high:g}], got {value!r}")
    return float(value)


def _choice(value, choices, where: str, key: str) -> str:
    if value not in choices:
        raise StudyDataError(f"{where}: {key}: {value!r} is not one of {', '.join(map(str, choices))}")
    return value


def claim_spec(entry, index: int, where: str) -> ClaimSpec:
    """One claim of the study file, every key checked."""
    where = f"{where}: claims[{index}]"
    if not isinstance(entry, dict):
        raise StudyDataError(f"{where}: a claim is a mapping with the keys {', '.join(CLAIM_KEYS)} "
                             "(the code has no built-in claims)")
    _unknown(entry, CLAIM_KEYS, where)
    kind = _choice(entry.get("kind", "compare"), KINDS, where, "kind")
    missing = [k for k in REQUIRED[kind] if entry.get(k) in (None, "", [])]
    if missing:
        raise StudyDataError(f"{where}: a {kind} claim needs {', '.join(missing)}")
    if kind == "trend" and "direction" in entry:
        raise StudyDataError(f"{where}: a trend is two-sided; it takes no direction")
    name = str(entry["name"])
    direction = DIRECTIONS[_choice(entry["direction"], tuple(DIRECTIONS), where, "direction")] if kind == "compare" \
        else 0
    return ClaimSpec(
        name, str(entry["text"]), kind, _strings(entry["metric"], where, "metric"),
        _strings(entry["arms"], where, "arms"),
        str(entry["reference"]) if entry.get("reference") is not None else None, direction,
        _number(entry["margin"], where, "margin"), str(entry.get("family") or name),
        _choice(entry.get("need", "all"), NEEDS, where, "need"),
        _strings(entry["beside"], where, "beside") if entry.get("beside") else (),
        str(entry.get("parameter", "")),
        _strings(entry["ignore_keys"], where, "ignore_keys") if entry.get("ignore_keys") else ())


def load_design(path: str | Path) -> Design:
    path = Path(path)
    if not path.is_file():
        raise StudyDataError(f"study file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise StudyDataError(f"{path}: not valid YAML: {err}") from None
    data = data.get("study", data) if isinstance(data, dict) else None
    if not isinstance(data, dict):
        raise StudyDataError(f"{path}: a study file is a mapping ({', '.join(TOP_KEYS)})")
    _unknown(data, TOP_KEYS, str(path))
    values = {k: v for k, v in data.items() if k not in ("claims", "metrics")}
    if "metrics" in data:
        values["metrics"] = _strings(data["metrics"], str(path), "metrics")
    claims = data.get("claims") or []
    if not isinstance(claims, list):
        raise StudyDataError(f"{path}: claims is a list of claims")
    values["claims"] = tuple(claim_spec(c, i, str(path)) for i, c in enumerate(claims))
    return checked(replace(Design(), **values, source=str(path)))


def checked(design: Design) -> Design:
    where = design.source
    _choice(design.test, tuple(TESTS), where, "test")
    _number(design.alpha, where, "alpha", 0.0, 1.0)
    _number(design.target_fraction, where, "target_fraction", 0.0, 1.0)
    if design.confidence is not None:
        _number(design.confidence, where, "confidence", 0.0, 1.0)
    if design.target is not None:
        _number(design.target, where, "target", float("-inf"))
    if not isinstance(design.metric, str) or not design.metric:
        raise StudyDataError(f"{where}: metric is the name of a logged metric")
    names = [c.key for c in design.claims]
    doubled = sorted({n for n in names if names.count(n) > 1})
    if doubled:
        raise StudyDataError(f"{where}: claim names must be unique: {', '.join(doubled)}")
    return design


def with_overrides(design: Design, **given) -> Design:
    """``design`` with the options given on the command line (None: not given) taking precedence."""
    given = {k: v for k, v in given.items() if v is not None}
    if not given:
        return design
    source = "the command line" if design.source == "defaults" else f"{design.source} and the command line"
    return checked(replace(design, **given, source=source))
