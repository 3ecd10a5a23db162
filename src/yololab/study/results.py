"""A study's results, computed once: every statistic the report shows, as one JSON-ready object. It is written
as ``results.json`` beside ``report.md``; the report's sections and figures and the README's headline are
rendered from it (read back from the file), so that no number is computed twice.

Non-finite numbers are stored as the strings ``"nan"``, ``"inf"`` and ``"-inf"``.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import numpy as np

from yololab.study import arms as arms_module
from yololab.study import claims, measures, stats
from yololab.study.design import Design
from yololab.study.families import Comparisons
from yololab.study.quantities import Quantity, problem, quantity
from yololab.study.runs import Run, StudyDataError
from yololab.study.trend import parameter_values

SCHEMA = 1
SETTINGS = ("trainer.max_epochs", "data.img_size", "data.batch_size", "model.head._target_", "model.optimizer.lr")
POWER_SEEDS = (3, 5, 10, 20)


def setting(run: Run, dotted: str):
    value = run.config
    for key in dotted.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def summary(values: list[float], seeds: list[int]) -> dict:
    s = stats.summarize(values)
    return {"n": s.n, "mean": s.mean, "std": s.std, "ci_low": s.ci_low, "ci_high": s.ci_high,
            "values": [float(v) for v in values], "seeds": seeds}


def spread(values: list[float]) -> dict:
    finite = [v for v in values if not math.isnan(v)]
    return {"n": len(finite), "mean": float(np.mean(finite)) if finite else math.nan,
            "std": float(np.std(finite, ddof=1)) if len(finite) > 1 else math.nan}


def cost(runs: list[Run]) -> dict | None:
    seconds = [measures.epoch_seconds(run) for run in runs]
    if not any(seconds):
        return None
    return {"hours": sum(seconds) / 3600, "min_minutes": min(seconds) / 60, "max_minutes": max(seconds) / 60,
            "median_minutes": statistics.median(seconds) / 60, "threads": sorted({measures.threads(r) for r in runs})}


def machines(runs: list[Run]) -> dict:
    """The machines the runs had, and each seed whose arms ran on more than one (its pairs carry the drift
    between machines as well as the seed's): {"all": [...], "mixed_seeds": {seed: {machine: [arms]}}}."""
    by_seed: dict[int, dict[str, list[str]]] = {}
    for run in sorted(runs, key=lambda r: (r.seed, r.arm)):
        by_seed.setdefault(run.seed, {}).setdefault(run.machine or "not recorded", []).append(run.arm)
    return {"all": sorted({machine for arms in by_seed.values() for machine in arms}),
            "mixed_seeds": {seed: arms for seed, arms in by_seed.items() if len(arms) > 1}}


def settings(runs: list[Run]) -> list[str]:
    shared = []
    for key in SETTINGS:
        values = {str(setting(r, key)) for r in runs}
        shared.append(f"`{key}` = {values.pop() if len(values) == 1 else 'varies'}")
    data = {Path(str(setting(r, "data.root"))).name for r in runs}
    return [*shared, f"data: {', '.join(sorted(data))}"]


def problems(runs: list[Run], quantities: list[Quantity]) -> list[dict]:
    """Every final metric the report uses that a run lacks or logged as no number: the key, why, and the runs
    (all: ``every run``)."""
    found: dict[tuple[str, str], list[str]] = {}
    for q in quantities:
        for run in runs:
            why = problem(run, q)
            if why:
                found.setdefault((q.name, why), []).append(run.name)
    return [{"key": key, "problem": why, "runs": names if len(names) < len(runs) else ["every run"]}
            for (key, why), names in found.items()]


def power(comps: Comparisons, ids: list[str], design: Design) -> dict | None:
    """The smallest difference a study of n seeds detects (80% power) at Holm's strictest level α/k, from the
    root mean square of the measured standard deviations of the paired differences against the baseline."""
    sds = [comps.items[k]["sd"] for k in ids if math.isfinite(comps.items[k]["sd"])]
    if not sds:
        return None
    sd = float(np.sqrt(np.mean(np.square(sds))))
    seeds = sorted({max(comps.items[k]["n"] for k in ids), *POWER_SEEDS})
    rows = [[stats.min_detectable(sd, n, design.alpha, k, floor=stats.test_floor(design.test, n)) for n in seeds]
            for k in range(1, len(ids) + 1)]
    return {"quantity": design.metric, "sd": sd, "arms": len(sds), "seeds": seeds, "rows": rows}


def default_target(groups: dict[str, list[Run]], q: Quantity, fraction: float) -> float:
    means = [np.mean(v) for v in (list(measures.by_seed(runs, q.read).values()) for runs in groups.values()) if v]
    return fraction * float(max(means)) if means else 0.0


def training(groups: dict[str, list[Run]], metric: str, target: float) -> dict:
    rows = {}
    for arm, runs in groups.items():
        epochs = [measures.epochs_to(r, metric, target) for r in runs]
        reached = [e for e in epochs if e is not None]
        rows[arm] = {"grad_magnitude": spread([measures.head_grad_norm(r) for r in runs]),
                     "gradient_ratio": spread([measures.log_gradient_ratio(r) for r in runs]),
                     "backward_ratio": spread([measures.log_backward_ratio(r) for r in runs]),
                     "dead_fraction": spread([measures.dead_fraction(r) for r in runs]),
                     "dead_values": [measures.dead_fraction(r) for r in runs], "epochs": epochs, "runs": len(runs),
                     "epochs_mean": float(np.mean(reached)) if reached else math.nan}
    return {"metric": metric, "target": target, "rows": rows}


def layouts(groups: dict[str, list[Run]]) -> list[dict]:
    """Per head layout (the layer names, most runs first): per arm, each layer's gradient norm, mean over runs."""
    found: dict[tuple, list[Run]] = {}
    for run in (r for runs in groups.values() for r in runs):
        found.setdefault(tuple(name for name, _ in run.layers), []).append(run)
    panels = []
    for names, runs in sorted(found.items(), key=lambda item: -len(item[1])):
        if not names:
            continue
        layers = runs[0].layers  # (name, activation or None): which layers are hidden
        by_arm = {arm: np.nanmean([measures.layer_grad_norms(r) for r in runs if r.arm == arm], axis=0).tolist()
                  for arm in groups if any(r.arm == arm for r in runs)}
        signal = {arm: np.nanmean([measures.backward_profile(r) for r in runs if r.arm == arm and r.signal_steps],
                                 axis=0).tolist()
                  for arm in by_arm if any(r.signal_steps for r in runs if r.arm == arm)}
        panels.append({"layers": [list(layer) for layer in layers], "runs": len(runs), "arms": by_arm,
                       "chains": measures.chains(list(layers)), "signal": signal})
    return panels


def curves(groups: dict[str, list[Run]], metric: str) -> dict:
    found = {}
    for arm, runs in groups.items():
        epochs = sorted({e for r in runs for e in r.curves.get(metric, {})})
        if epochs:
            table = np.array([[r.curves.get(metric, {}).get(e, np.nan) for r in runs] for e in epochs])
            found[arm] = {"epochs": epochs, "mean": np.nanmean(table, axis=1).tolist(),
                          "std": np.nan_to_num(np.nanstd(table, axis=1)).tolist(), "n": len(runs)}
    return found


def arm_rows(groups: dict[str, list[Run]], described: dict, design: Design) -> list[dict]:
    parameters = [c.parameter for c in design.claims if c.kind == "trend"]
    values = {p: parameter_values(p, list(groups), described, groups) for p in dict.fromkeys(parameters)}
    return [{"name": name, "activation": described[name].activation, "runs": len(runs),
             "seeds": [r.seed for r in runs], "parameters": {p: v[name] for p, v in values.items()}}
            for name, runs in groups.items()]


def declared(spec, baseline: str) -> dict:
    """A claim as the study file declares it, for the method section."""
    return {"name": spec.key, "kind": spec.kind, "arms": list(spec.arms), "reference": spec.reference or baseline,
            "metrics": list(spec.metrics), "direction": spec.direction, "margin": spec.margin, "family": spec.family,
            "need": spec.need, "parameter": spec.parameter}


def compute(runs: list[Run], groups: dict[str, list[Run]], source: str, design: Design, baseline: str,
            why: str) -> dict:
    """Every number of the report (see the module docstring)."""
    described = arms_module.describe(groups)
    cache: dict[str, Quantity] = {}

    def q_of(name: str) -> Quantity:
        if name not in cache:
            cache[name] = quantity(name, design.confidence, design.source)
        return cache[name]

    main = q_of(design.metric)
    shown = [q_of(m) for m in dict.fromkeys(design.metrics)]
    comps = Comparisons(groups, design.test, design.alpha)
    found = claims.evaluate(design, groups, described, comps, q_of, baseline)
    others = [a for a in groups if a != baseline]
    differences = {q.name: [comps.pair(a, baseline, q, None) for a in others] for q in dict.fromkeys([*shown, main])}
    target = design.target if design.target is not None else default_target(groups, main, design.target_fraction)
    return {
        "schema": SCHEMA, "source": source, "runs": len(runs),
        "design": {"source": design.source, "baseline": baseline, "baseline_why": why, "metric": main.name,
                   "metrics": [q.name for q in shown], "confidence": design.confidence, "alpha": design.alpha,
                   "test": design.test, "test_name": stats.TESTS[design.test],
                   "other_test_name": next(stats.TESTS[t] for t in stats.TESTS if t != design.test),
                   "claims": [declared(c, baseline) for c in design.claims]},
        "quantities": {name: q.describe() for name, q in cache.items()},
        "arms": arm_rows(groups, described, design),
        "settings": settings(runs), "cost": cost(runs), "problems": problems(runs, list(cache.values())),
        "machines": machines(runs),
        "summaries": {q.name: {arm: summary([q.read(r) for r in rs if not math.isnan(q.read(r))],
                                            [r.seed for r in rs if not math.isnan(q.read(r))])
                               for arm, rs in groups.items()} for q in dict.fromkeys([*shown, main])},
        "comparisons": comps.items, "families": {n: {"members": m, "size": len(m)} for n, m in comps.families.items()},
        "differences": differences, "claims": found,
        "sign_flip_floors": {str(n): stats.sign_flip_floor(n) for n in sorted(
            {comps.items[k]["n"] for ids in differences.values() for k in ids} - {0})},
        "power": power(comps, differences[main.name], design),
        "training": training(groups, main.name, target),
        "figures": {"curves": curves(groups, main.name), "layouts": layouts(groups)},
    }


def encode(value):
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    return value


def decode(value):
    if isinstance(value, str) and value in ("nan", "inf", "-inf"):
        return float(value)
    if isinstance(value, dict):
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def write(results: dict, path: Path) -> Path:
    path.write_text(json.dumps(encode(results), indent=1, ensure_ascii=False) + "\n")
    return path


def read(path: Path) -> dict:
    try:
        data = decode(json.loads(Path(path).read_text()))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise StudyDataError(f"{path}: not a results file ({err})") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise StudyDataError(f"{path}: not a results file of schema {SCHEMA} (regenerate it with scripts/report.py)")
    return data
