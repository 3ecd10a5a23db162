"""Every comparison of a study, computed once, and the families that Holm-correct them.

A comparison is an arm against a reference on one quantity, paired by seed, or a trend across a parameter. It
belongs to at most one family, and its p, Holm p, CI and smallest detectable difference are the same wherever
the report shows it. Families are formed by the study file: each claim is a family unless claims name one
``family`` together; what a claim shows ``beside`` its verdict is a family of its own; every other comparison
(the tables against the baseline) is descriptive: unadjusted p, no Holm p.

When every paired difference is the same, the differences have no spread: the t interval and the t-test do
not apply. Such a comparison says so, has no CI, and takes its p from the exact sign-flip test.
"""

from __future__ import annotations

import math

import numpy as np

from yololab.study import measures, stats
from yololab.study.quantities import Quantity
from yololab.study.runs import Run, StudyDataError
from yololab.study.verdicts import show


def comparison_id(label: str, quantity: str) -> str:
    return f"{quantity}: {label}"


def degenerate_note(diff: np.ndarray, q: Quantity) -> str:
    value = show(float(diff[0]), q.factor)
    return (f"every paired difference is {value} {q.unit}: no spread, so the t-test and the t interval do not "
            f"apply; exact sign-flip p = {stats.sign_flip_test(diff, np.zeros_like(diff)):.3g}")


def paired(groups: dict[str, list[Run]], arm: str, reference: str, q: Quantity, test: str) -> dict:
    """``arm`` minus ``reference`` on ``q``, paired by seed, unadjusted."""
    x, y = measures.by_seed(groups[arm], q.read), measures.by_seed(groups[reference], q.read)
    c = stats.paired(arm, reference, x, y, test)
    seeds = sorted(set(x) & set(y))
    diff = np.array([x[s] - y[s] for s in seeds])
    found = {"label": f"{arm} − {reference}", "kind": "paired", "arm": arm, "reference": reference,
             "quantity": q.name, "n": c.n, "estimate": c.mean_diff, "ci_low": c.ci_low, "ci_high": c.ci_high,
             "p": c.p, "test": test, "p_other": c.p_other, "sd": c.sd, "degenerate": None,
             "differences": {str(s): float(d) for s, d in zip(seeds, diff, strict=True)}}
    if c.n >= 2 and np.all(diff == diff[0]):
        sign_flip = stats.sign_flip_test(diff, np.zeros_like(diff))
        found.update(ci_low=math.nan, ci_high=math.nan, p=sign_flip, test="sign_flip", p_other=math.nan,
                     degenerate=degenerate_note(diff, q))
    return found


class Comparisons:
    """The study's comparisons by id, each in one family (or none: descriptive)."""

    def __init__(self, groups: dict[str, list[Run]], test: str, alpha: float) -> None:
        self.groups, self.test, self.alpha = groups, test, alpha
        self.items: dict[str, dict] = {}
        self.families: dict[str, list[str]] = {}

    def add(self, c: dict, family: str | None) -> str:
        """``c`` into ``family`` (None: descriptive); a comparison asked for in two families is an error."""
        key = comparison_id(c["label"], c["quantity"])
        known = self.items.get(key)
        if known is not None:
            if family is not None and known["family"] not in (None, family):
                raise StudyDataError(f"{key} is in two families ({known['family']}, {family}): a comparison "
                                     "belongs to one family; give the claims one family: in the study file")
            if family is not None and known["family"] is None:
                known["family"] = family
                self.families.setdefault(family, []).append(key)
            return key
        self.items[key] = {**c, "id": key, "family": family, "p_holm": math.nan, "detectable": math.nan}
        if family is not None:
            self.families.setdefault(family, []).append(key)
        return key

    def pair(self, arm: str, reference: str, q: Quantity, family: str | None) -> str:
        key = comparison_id(f"{arm} − {reference}", q.name)
        if key in self.items:
            return self.add(self.items[key], family)
        return self.add(paired(self.groups, arm, reference, q, self.test), family)

    def in_family(self, key: str) -> bool:
        return self.items[key]["family"] is not None

    def finalize(self) -> None:
        """Holm within each family; the smallest detectable difference at Holm's strictest level, α / size."""
        for members in self.families.values():
            rows = [self.items[k] for k in members]
            for c, adjusted in zip(rows, stats.holm([c["p"] for c in rows]), strict=True):
                c["p_holm"] = float(adjusted)
                c["family_size"] = len(rows)
                c["detectable"] = detectable(c, self.alpha, len(rows))


def detectable(c: dict, alpha: float, size: int) -> float:
    if c["kind"] == "trend":
        floor = stats.trend_floor(c["levels"], c["n"]) if c["test"] == "sign_flip" else stats.test_floor(
            c["test"], c["n"])
    else:
        floor = stats.test_floor(c["test"], c["n"])
    return stats.min_detectable(c["sd"], c["n"], alpha, size, floor=floor)
