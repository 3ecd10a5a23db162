"""The runs of a study, read from run folders (or, through :mod:`yololab.study.wandb_runs`, from W&B).

A run folder is any folder below the runs directory holding ``metrics.json`` (written when a run
finishes) and ``config.yaml`` (its resolved config). From ``csv/metrics.csv`` come the learning curves
(``val/mAP50``, ``val/mAP50-95`` per epoch), the gradient-flow scalars averaged over the logged steps, and
the gradient norms of every logged step; ``gradflow_layers.json`` gives the monitored layers in depth order.
A run's arm is its config's ``arm`` (set by the study's experiment files) or else its head activation.
"""

from __future__ import annotations

import csv
import json
import math
import re
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

GRADFLOW = re.compile(r"^gradflow/(?P<kind>[a-z_]+)/(?P<layer>.+)$")


class StudyDataError(ValueError):
    """Runs that cannot be analysed; the message names the folder, file or key."""


@dataclass
class Run:
    name: str  # the folder relative to the runs directory, or the W&B run name
    arm: str
    seed: int
    activation: str | None  # the head's activation spec
    final: dict[str, float]  # the final metrics
    curves: dict[str, dict[int, float]] = field(default_factory=dict)  # metric -> epoch (from 1) -> value
    gradflow: dict[str, dict[str, float]] = field(default_factory=dict)  # kind -> layer -> mean over steps
    grad_steps: list[dict[str, float]] = field(default_factory=list)  # per logged step: layer -> gradient norm
    signal_steps: list[dict[str, float]] = field(default_factory=list)  # per logged step: layer -> input_grad_norm
    layers: list[tuple[str, str | None]] = field(default_factory=list)  # (layer, activation) in depth order
    config: dict = field(default_factory=dict)  # the resolved config
    invalid: dict[str, str] = field(default_factory=dict)  # final metrics logged as no finite number: key -> why
    machine: str | None = None  # CPU model and ATen's instruction set (environment.json); None where not recorded


def _number(value) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


@dataclass
class Logged:
    """What a run's logged rows hold for the report."""

    curves: dict[str, dict[int, float]]  # metric -> epoch (from 1) -> value
    gradflow: dict[str, dict[str, float]]  # kind -> layer -> mean over the logged steps
    grad_steps: list[dict[str, float]]  # per logged step (rows of one step merged): layer -> norm
    signal_steps: list[dict[str, float]]  # the same for the backward signal (input_grad_norm)


def summarise_rows(rows: Iterable[dict]) -> Logged:
    """Learning curves (every key logged with an epoch) and gradient-flow scalars from logged rows (CSV rows or
    W&B history rows)."""
    curves: dict[str, dict[int, float]] = defaultdict(dict)
    sums: dict[tuple[str, str], list[float]] = defaultdict(list)
    steps: dict[str, dict[object, dict[str, float]]] = {"grad_norm": {}, "input_grad_norm": {}}
    for index, row in enumerate(rows):
        epoch = _number(row.get("epoch"))
        step = _number(row.get("step"))
        at = ("step", step) if step is not None else ("row", index)
        for key, raw in row.items():
            value = _number(raw)
            if value is None:
                continue
            if match := GRADFLOW.match(key):
                sums[(match["kind"], match["layer"])].append(value)
                if match["kind"] in steps:
                    steps[match["kind"]].setdefault(at, {})[match["layer"]] = value
            elif epoch is not None and key not in ("epoch", "step"):
                curves[key][int(epoch) + 1] = value
    gradflow: dict[str, dict[str, float]] = defaultdict(dict)
    for (kind, layer), values in sums.items():
        gradflow[kind][layer] = statistics.fmean(values)
    return Logged(dict(curves), dict(gradflow), list(steps["grad_norm"].values()),
                  list(steps["input_grad_norm"].values()))


def layers_from_gradflow(gradflow: dict[str, dict[str, float]]) -> list[tuple[str, str | None]]:
    """Layer order without ``gradflow_layers.json``: by name (numbers compared as numbers); a layer has an
    activation when its dead-unit fraction was logged."""
    names = sorted(gradflow.get("grad_norm", {}), key=lambda n: [int(t) if t.isdigit() else t for t in
                                                              re.split(r"(\d+)", n)])
    with_activation = set(gradflow.get("dead_fraction", {}))
    return [(n, "?" if n in with_activation else None) for n in names]


def why_not_a_number(value) -> str | None:
    """None for a finite number, else what the value is instead."""
    if isinstance(value, bool) or value is None or isinstance(value, str | list | dict):
        return "missing (null)" if value is None else f"not a number ({value!r})"
    return None if math.isfinite(float(value)) else f"{value} (not finite)"


def make_run(name: str, config: dict, final: dict, rows: Iterable[dict], layers=None, where: str = "") -> Run:
    """A run from its config, final metrics and logged rows; ``where`` names its config in errors."""
    where = where or name
    if not isinstance(config, dict):
        raise StudyDataError(f"{where}: a run's config is a mapping")
    if not isinstance(final, dict):
        raise StudyDataError(f"{name}: metrics.json holds {type(final).__name__}, not a mapping of metric names "
                             "to values")
    if "seed" not in config:
        raise StudyDataError(f"{where}: the config has no seed")
    head = (config.get("model") or {}).get("head") or {}
    activation = head.get("activation")
    arm = config.get("arm") or activation
    if not arm:
        raise StudyDataError(f"{where}: the config sets neither arm nor model.head.activation")
    logged = summarise_rows(rows)
    problems = {k: why_not_a_number(v) for k, v in final.items()}
    return Run(name, str(arm), int(config["seed"]), activation,
               {k: float(v) for k, v in final.items() if problems[k] is None}, logged.curves, logged.gradflow,
               logged.grad_steps, logged.signal_steps, layers or layers_from_gradflow(logged.gradflow), config,
               {k: why for k, why in problems.items() if why is not None})


def read_layers(path: Path) -> list[tuple[str, str | None]] | None:
    """The monitored layers in depth order, from a list of {depth, name, activation}; an error naming the file."""
    if not path.is_file():
        return None
    rows = read_structured(path)
    try:
        return [(str(row["name"]), row.get("activation")) for row in sorted(rows, key=lambda r: float(r["depth"]))]
    except (TypeError, KeyError, ValueError, AttributeError):
        raise StudyDataError(f"{path}: not a list of layers with depth, name and activation") from None


def read_csv(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    try:
        with open(path, newline="") as handle:
            return list(csv.DictReader(handle))
    except (UnicodeDecodeError, csv.Error) as err:
        raise StudyDataError(f"{path}: not a readable CSV file ({err})") from None


def read_structured(path: Path):
    """A YAML or JSON file, or an error naming it."""
    try:
        text = path.read_text()
        return yaml.safe_load(text) if path.suffix == ".yaml" else json.loads(text)
    except (yaml.YAMLError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise StudyDataError(f"{path}: cannot be parsed: {err}") from None


def read_run(folder: Path, root: Path) -> Run:
    name = folder.relative_to(root).as_posix() if folder != root else folder.name
    config = read_structured(folder / "config.yaml") or {}
    final = read_structured(folder / "metrics.json")
    if not isinstance(final, dict):
        raise StudyDataError(f"{folder / 'metrics.json'}: holds {type(final).__name__}, not a mapping of metric "
                             "names to values")
    rows = read_csv(folder / "csv" / "metrics.csv")
    run = make_run(name, config, final, rows, read_layers(folder / "gradflow_layers.json"),
                   where=str(folder / "config.yaml"))
    run.machine = machine_of(folder / "environment.json")
    return run


def read_environment(path: Path) -> list[dict] | None:
    """The entries of ``environment.json`` (one per start of the run); None for a run that predates the record."""
    entries = read_structured(path) if path.is_file() else None
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        return None
    return entries


def machine_of(path: Path) -> str | None:
    """"<CPU model> (<ATen CPU capability>[, oneDNN off])" of each start recorded in ``environment.json``
    (``numerics=portable`` turns oneDNN off), distinct ones joined by ' + ' (a run resumed elsewhere). Runs on
    different machines drift in their last bits (README, "Reproducibility"), so the report shows which seeds mix
    machines."""
    entries = read_environment(path)
    return entries and " + ".join(dict.fromkeys(f"{e.get('cpu_model')} ({e.get('cpu_capability')}"
                                                f"{', oneDNN off' if e.get('mkldnn_enabled') is False else ''})"
                                                for e in entries))


def load_runs_dir(root: str | Path, *, unique: bool = True) -> list[Run]:
    """Every finished run below ``root``; ``unique`` (a report's pairing by seed): one run per (arm, seed)."""
    root = Path(root)
    if not root.is_dir():
        raise StudyDataError(f"runs directory not found: {root}")
    folders = sorted(p.parent for p in root.rglob("metrics.json") if (p.parent / "config.yaml").is_file())
    if not folders:
        raise StudyDataError(f"{root}: no finished runs (folders holding metrics.json and config.yaml)")
    runs = [read_run(folder, root) for folder in folders]
    if unique:
        check_unique(runs)
    return runs


def check_unique(runs: list[Run]) -> None:
    """Pairing by seed needs one run per (arm, seed)."""
    seen: dict[tuple[str, int], str] = {}
    for run in runs:
        key = (run.arm, run.seed)
        if key in seen:
            raise StudyDataError(f"two runs of arm {run.arm!r} with seed {run.seed}: {seen[key]} and {run.name}; "
                                 "remove one (or point the report at one sweep's folder)")
        seen[key] = run.name


def by_arm(runs: list[Run], first: str | None = None) -> dict[str, list[Run]]:
    """Runs grouped by arm: ``first`` leads, the rest by name; each arm's runs by seed."""
    groups: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        groups[run.arm].append(run)
    order = sorted(groups, key=lambda a: (a != first, a))
    return {arm: sorted(groups[arm], key=lambda r: r.seed) for arm in order}
