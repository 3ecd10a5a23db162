"""``vanishing(F)``: the backward-signal ratio over the first F of a run's logged steps (the deep family's rule,
docs/head-probe-study), checked against ratios worked out here from made-up signal norms."""

import math
import re

import pytest

from yololab.study.quantities import quantity
from yololab.study.runs import Run, StudyDataError

LAYERS = [(f"head.box.0.{i}", "relu" if i < 3 else None) for i in range(4)]  # three hidden layers, one output


def run_with_ratios(ratios: list[float]) -> Run:
    """At step i the signal at the first hidden layer's output is 10**ratios[i] times the last one's."""
    steps = [{"head.box.0.0": 5.0, "head.box.0.1": 10 ** r, "head.box.0.2": 3.0, "head.box.0.3": 1.0} for r in ratios]
    return Run("r", "relu", 0, "relu", {}, signal_steps=steps, layers=LAYERS)


@pytest.mark.parametrize(("name", "expected"), [
    ("vanishing(0.2)", (-1.0 - 0.9) / 2),  # 2 of 10 steps
    ("vanishing(0.3)", (-1.0 - 0.9 - 0.8) / 3),
    ("vanishing(0.01)", -1.0),  # at least one step
    ("vanishing(1)", sum(-1 + 0.1 * i for i in range(10)) / 10),
    ("vanishing", sum(-1 + 0.1 * i for i in range(10)) / 10),
])
def test_the_early_ratio_averages_the_first_steps_only(name, expected):
    run = run_with_ratios([-1 + 0.1 * i for i in range(10)])
    q = quantity(name)
    assert q.read(run) == pytest.approx(expected, abs=1e-12)
    assert (q.unit, q.factor, q.words) == ("log10 signal ratio", 1.0, ("more vanishing", "less vanishing"))


def test_a_step_without_the_signal_is_left_out_of_the_early_mean():
    run = run_with_ratios([-2.0, -1.0, 0.0, 0.0])
    run.signal_steps[0]["head.box.0.3"] = 0.0  # no loss term reached the path at step 0
    assert quantity("vanishing(0.5)").read(run) == pytest.approx(-1.0)
    assert math.isnan(quantity("vanishing(0.25)").read(run))


@pytest.mark.parametrize("name", ["vanishing(0)", "vanishing(1.5)", "vanishing(1.2.3)"])
def test_a_fraction_outside_the_schedule_is_named(name):
    message = f"--measure: {name}: the fraction of the schedule is in (0, 1]"
    with pytest.raises(StudyDataError, match=re.escape(message)):
        quantity(name, where="--measure")
