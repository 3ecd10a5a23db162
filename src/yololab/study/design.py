"""What a study tests: its baseline, metric, margins, level and claims, from its study file
(``studies/<name>/study.yaml``, given to ``scripts/report.py --study``) or the defaults.

A study file is YAML; every key is optional (a top-level ``study:`` mapping is read the same way)::

    baseline: relu          # the arm every other is compared with (default: the ReLU arm, else the first arm)
    metric: val/mAP50-95
    alpha: 0.05             # significance level of each claim's Holm family
    margin: 0.01            # the smallest difference of the metric that matters (0.01 = 1 mAP point)
    vanishing_margin: 0.1   # the same for the log10 input/output gradient ratio (0.1 = a factor 1.26)
    test: sign_flip         # the p of the verdicts: sign_flip (exact, no assumption; p >= 2/2^n) | paired_t
    claims:                 # default: the four claims of the head-activation study (BUILTIN)
      - leaky_worse
      - {text: "SiLU in the head does better than ReLU.", arms: [silu], reference: relu, direction: higher}

A claim of your own compares ``arms`` (selectors: arm names or activation names) with ``reference`` on
``measure`` (``accuracy``: the metric; ``vanishing``: the input/output gradient ratio) and says the arms are
``higher`` or ``lower``; ``need: all`` (default) wants every arm to show it, ``need: any`` one of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import yaml

from yololab.study.runs import StudyDataError
from yololab.study.stats import TESTS

DIRECTIONS = {"higher": +1, "lower": -1}


@dataclass(frozen=True)
class ClaimSpec:
    key: str
    text: str
    kind: str = "compare"  # compare: arms against a reference; trend: the metric across the slope α
    measure: str = "accuracy"  # accuracy | vanishing
    arms: tuple[str, ...] = ()
    reference: str = "relu"
    direction: int = -1  # the claimed sign of arm minus reference
    need: str = "all"  # all | any: every arm must show it, or one suffices


BUILTIN = {
    "leaky_worse": ClaimSpec("leaky_worse", "LeakyReLU in the head is worse than ReLU (lower mAP).",
                             arms=("leaky_relu",)),
    "leaky_vanishing": ClaimSpec(
        "leaky_vanishing", "LeakyReLU's head gradients vanish more than ReLU's (a smaller gradient norm at the "
        "input-side head layer relative to the output-side layer).", measure="vanishing", arms=("leaky_relu",)),
    "slope_trend": ClaimSpec("slope_trend", "Results depend on the LeakyReLU slope α (a trend of the metric "
                             "across α, ReLU included as α = 0).", kind="trend"),
    "elu_selu_better": ClaimSpec("elu_selu_better", "ELU or SELU in the head do better than ReLU.",
                                 arms=("elu", "selu"), direction=+1, need="any"),
}


@dataclass(frozen=True)
class Design:
    baseline: str | None = None
    metric: str = "val/mAP50-95"
    alpha: float = 0.05
    margin: float = 0.01
    vanishing_margin: float = 0.1
    test: str = "sign_flip"  # a key of yololab.study.stats.TESTS
    claims: tuple[ClaimSpec, ...] = field(default_factory=lambda: tuple(BUILTIN.values()))
    source: str = "defaults"  # where the design came from, for the report


def claim_spec(entry, index: int, where: str) -> ClaimSpec:
    """A claim of the study file: a built-in name or a mapping."""
    if isinstance(entry, str):
        if entry not in BUILTIN:
            raise StudyDataError(f"{where}: unknown claim {entry!r}; built-in claims: {', '.join(BUILTIN)}")
        return BUILTIN[entry]
    if not isinstance(entry, dict) or not entry.get("text") or not entry.get("arms"):
        raise StudyDataError(f"{where}: claims[{index}] needs text and arms (or is a built-in name)")
    direction = DIRECTIONS.get(entry.get("direction", "higher"))
    if direction is None or entry.get("need", "all") not in ("all", "any") or \
            entry.get("measure", "accuracy") not in ("accuracy", "vanishing"):
        raise StudyDataError(f"{where}: claims[{index}]: direction is higher|lower, need all|any, "
                             "measure accuracy|vanishing")
    arms = entry["arms"] if isinstance(entry["arms"], list) else [entry["arms"]]
    return ClaimSpec(f"claim{index + 1}", str(entry["text"]), "compare", entry.get("measure", "accuracy"),
                     tuple(map(str, arms)), str(entry.get("reference", "relu")), direction, entry.get("need", "all"))


def load_design(path: str | Path) -> Design:
    path = Path(path)
    if not path.is_file():
        raise StudyDataError(f"study file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise StudyDataError(f"{path}: not valid YAML: {err}") from None
    data = data.get("study", data) if isinstance(data, dict) else None
    if not isinstance(data, dict):
        raise StudyDataError(f"{path}: a study file is a mapping (baseline, metric, margin, claims, ...)")
    known = {f.name for f in fields(Design)} - {"source"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise StudyDataError(f"{path}: unknown keys {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    values = {k: v for k, v in data.items() if k != "claims"}
    if "claims" in data:
        values["claims"] = tuple(claim_spec(c, i, str(path)) for i, c in enumerate(data["claims"] or []))
    return checked(replace(Design(), **values, source=str(path)))


def checked(design: Design) -> Design:
    if design.test not in TESTS:
        raise StudyDataError(f"{design.source}: test: {design.test!r} is not a test; use one of {', '.join(TESTS)}")
    return design


def with_overrides(design: Design, **given) -> Design:
    """``design`` with the options given on the command line (None: not given) taking precedence."""
    given = {k: v for k, v in given.items() if v is not None}
    if not given:
        return design
    source = "the command line" if design.source == "defaults" else f"{design.source} and the command line"
    return checked(replace(design, **given, source=source))
