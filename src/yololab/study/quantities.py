"""The quantities a study file names (a claim's ``metric``, ``beside``, the shown ``metrics``), each with its
label, unit and scale, so that every table and sentence follows the metric. The forms:

- ``val/mAP50-95`` (any key of a run's ``metrics.json``): its final value;
- ``precision``, ``recall``, ``f1``: at the study's one fixed ``confidence`` c, i.e. ``val/precision@c``
  (logged by training for every c in ``model.pr_confidences``); ``val/f1`` and ``val/f1@c`` are computed as
  2PR/(P+R) from the precision and recall when a run did not log them;
- ``auc(KEY)``: the mean of KEY's per-epoch curve, i.e. the area under it divided by the epochs (convergence:
  a faster-rising validation curve has a larger area at the same final value);
- ``at(KEY, F)``: KEY at the epoch round(F x trainer.max_epochs), at least 1 (e.g. the training loss
  ``at(train/loss_epoch, 0.2)`` at a fifth of the schedule);
- ``vanishing``: per path through the head of two or more hidden layers, log10 of the backward signal (the
  gradient with respect to a layer's input) at the first hidden layer's output over that at the last one's (see
  :mod:`yololab.study.measures`); ``weight_gradient_ratio``: the older measure on weight-gradient norms (input-
  side over output-side layer); ``vanishing(F)``: the same ratio over the first F of the logged steps alone
  (an init's vanishing that training removes within a few epochs); ``grad_magnitude``: log10 of the overall head
  gradient magnitude.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass

from yololab.study import measures
from yololab.study.runs import Run, StudyDataError

AUC = re.compile(r"^auc\((?P<key>[^(),]+)\)$")
AT = re.compile(r"^at\((?P<key>[^(),]+),\s*(?P<fraction>[0-9.]+)\)$")
EARLY = re.compile(r"^vanishing\((?P<fraction>[0-9.]+)\)$")
AT_CONF = re.compile(r"^(?P<key>.+/(?P<what>precision|recall|f1))@(?P<conf>[0-9.]+)$")
ALIASES = ("precision", "recall", "f1")


@dataclass(frozen=True)
class Quantity:
    name: str  # as the study file writes it (aliases resolved)
    label: str  # for a sentence or a column
    unit: str  # of the shown values, after ``factor``
    factor: float
    better: int  # +1: higher is better, -1: lower is, 0: neither
    words: tuple[str, str]  # (below zero, above zero) of a difference
    read: Callable[[Run], float]

    def describe(self) -> dict:
        return {"name": self.name, "label": self.label, "unit": self.unit, "factor": self.factor,
                "better": self.better, "words": list(self.words)}


def scale_of(key: str) -> tuple[str, float, int]:
    """(unit, factor, better) of a logged key."""
    if "mAP" in key or re.search(r"/AP\d*/", key):
        return "mAP points", 100.0, +1
    if re.search(r"(precision|recall|f1)(@|$)", key):
        return "points", 100.0, +1
    if "loss" in key:
        return "loss", 1.0, -1
    return key, 1.0, 0


def label_of(key: str) -> str:
    if match := AT_CONF.match(key):
        return f"{match['what']} at confidence {float(match['conf']):g} ({key})"
    if re.search(r"/(precision|recall|f1)$", key):
        return f"{key} (at each run's own best-F1 confidence)"
    return key


def final_value(key: str) -> Callable[[Run], float]:
    what = re.search(r"^(?P<stem>.*)/f1(?P<at>@[0-9.]+)?$", key)

    def read(run: Run) -> float:
        if key in run.final or not what:
            return run.final.get(key, math.nan)
        p, r = (run.final.get(f"{what['stem']}/{m}{what['at'] or ''}", math.nan) for m in ("precision", "recall"))
        return 2 * p * r / (p + r) if p + r > 0 else (0.0 if p + r == 0 else math.nan)

    return read


def curve_mean(key: str) -> Callable[[Run], float]:
    def read(run: Run) -> float:
        values = list(run.curves.get(key, {}).values())
        return statistics.fmean(values) if values else math.nan

    return read


def schedule_epochs(run: Run) -> int | None:
    trainer = run.config.get("trainer") if isinstance(run.config.get("trainer"), dict) else {}
    epochs = trainer.get("max_epochs")
    return int(epochs) if isinstance(epochs, int) and epochs > 0 else None


def at_fraction(key: str, fraction: float) -> Callable[[Run], float]:
    def read(run: Run) -> float:
        curve = run.curves.get(key, {})
        total = schedule_epochs(run) or max(curve, default=0)
        return curve.get(max(1, round(fraction * total)), math.nan)

    return read


def fraction_of(name: str, text: str, where: str) -> float:
    try:
        fraction = float(text)
    except ValueError:
        fraction = math.nan
    if not 0 < fraction <= 1:
        raise StudyDataError(f"{where}: {name}: the fraction of the schedule is in (0, 1]")
    return fraction


def signal_ratio(name: str, which: str, read: Callable[[Run], float]) -> Quantity:
    """A backward-signal ratio (vanishing): its label, unit and words."""
    return Quantity(name, f"log10 backward-signal ratio {which}", "log10 signal ratio", 1.0, 0,
                    ("more vanishing", "less vanishing"), read)


def quantity(name: str, confidence: float | None = None, where: str = "the study file") -> Quantity:
    """The quantity a study file names (see the module docstring), or an error naming it."""
    if name in ALIASES:
        if confidence is None:
            raise StudyDataError(f"{where}: metric {name!r} is taken at the study's fixed confidence threshold; "
                                 "declare it (confidence: 0.25), or name a logged key such as val/precision")
        name = f"val/{name}@{confidence:g}"
    if name == "vanishing":
        return signal_ratio(name, "(first / last hidden layer's output)", measures.log_backward_ratio)
    if match := EARLY.match(name):
        fraction = fraction_of(name, match["fraction"], where)
        return signal_ratio(name, f"over the first {fraction:g} of the logged steps",
                            lambda run: measures.log_backward_ratio_early(run, fraction))
    if name == "weight_gradient_ratio":
        return Quantity(name, "log10 weight-gradient ratio (input-side / output-side head layer)",
                        "log10 gradient ratio", 1.0, 0, ("more vanishing", "less vanishing"),
                        measures.log_gradient_ratio)
    if name == "grad_magnitude":
        return Quantity(name, "log10 overall head gradient magnitude", "log10 gradient norm", 1.0, 0,
                        ("lower", "higher"), measures.log10_head_grad_norm)
    if match := AUC.match(name):
        unit, factor, better = scale_of(match["key"])
        return Quantity(name, f"mean of the {match['key']} curve over the epochs (area under it / epochs)", unit,
                        factor, better, ("lower", "higher"), curve_mean(match["key"]))
    if match := AT.match(name):
        fraction = fraction_of(name, match["fraction"], where)
        unit, factor, better = scale_of(match["key"])
        return Quantity(name, f"{match['key']} at {fraction:g} of the schedule", unit, factor, better,
                        ("lower", "higher"), at_fraction(match["key"], fraction))
    if "(" in name or ")" in name:
        raise StudyDataError(f"{where}: metric {name!r}: use KEY, auc(KEY), at(KEY, FRACTION), precision, recall, "
                             "f1, vanishing, vanishing(FRACTION), weight_gradient_ratio or grad_magnitude (quote "
                             "at(KEY, F) inside a [..] list)")
    if confidence is not None and (match := AT_CONF.match(name)) and float(match["conf"]) != confidence:
        raise StudyDataError(f"{where}: metric {name!r}: the study's one confidence threshold is {confidence:g}")
    unit, factor, better = scale_of(name)
    return Quantity(name, label_of(name), unit, factor, better, ("lower", "higher"), final_value(name))


def problem(run: Run, q: Quantity) -> str | None:
    """Why ``q`` has no value for ``run`` when it is a final metric the run lacks or logged as no number."""
    if q.name in run.invalid:
        return f"{q.name} is {run.invalid[q.name]} in metrics.json"
    if math.isnan(q.read(run)) and "/" in q.name and "(" not in q.name:
        return f"{q.name} is missing from metrics.json"
    return None


def recorded_instead(q: Quantity, runs: list[Run]) -> str:
    """For a fixed-threshold precision/recall/F1 that the runs lack: what they recorded instead, said plainly."""
    match = AT_CONF.match(q.name)
    if not match or not any(f"{match['key'].rsplit('/', 1)[0]}/precision" in r.final for r in runs):
        return ""
    return (f". These runs predate the fixed-threshold logging (model.pr_confidences): they recorded precision and "
            f"recall only at each run's own best-F1 confidence, chosen per run on the validation set, which moves "
            f"the two against each other by construction. The claim can only be judged on what the runs recorded, "
            f"and they did not record {match['what']} at confidence {float(match['conf']):g}: what they did record "
            f"is shown beside it, not judged")
