"""What the report measures on one run, beside its final metrics.

- ``head_grad_norm``: the gradient that reaches the head's hidden layers (those followed by an activation):
  the root of the sum of their squared weight-gradient norms, each averaged over the logged steps (a layer
  that received no gradient counts as zero);
- ``dead_fraction``: the mean over those layers of the share of channels that pass no gradient for any
  input of a logged batch, averaged over the logged steps;
- ``epochs_to``: the first epoch (counting from 1) whose validation metric reaches a target.
"""

from __future__ import annotations

import math

from yololab.study.runs import Run


def final(run: Run, metric: str) -> float:
    return run.final.get(metric, math.nan)


def activation_layers(run: Run) -> list[str]:
    return [name for name, activation in run.layers if activation is not None]


def layer_grad_norms(run: Run) -> list[float]:
    """Mean gradient norm of every monitored layer, in depth order (NaN where none was logged)."""
    norms = run.gradflow.get("grad_norm", {})
    return [norms.get(name, math.nan) for name, _ in run.layers]


def head_grad_norm(run: Run) -> float:
    norms = run.gradflow.get("grad_norm", {})
    values = [norms[n] for n in activation_layers(run) if n in norms]
    return math.sqrt(sum(v * v for v in values)) if values else math.nan


def dead_fraction(run: Run) -> float:
    dead = run.gradflow.get("dead_fraction", {})
    values = [dead[n] for n in activation_layers(run) if n in dead]
    return sum(values) / len(values) if values else math.nan


def epochs_to(run: Run, metric: str, target: float) -> int | None:
    """None when the run never reaches ``target``."""
    return next((epoch for epoch, value in sorted(run.curves.get(metric, {}).items()) if value >= target), None)


def by_seed(runs: list[Run], measure, *args) -> dict[int, float]:
    """``measure(run, *args)`` of every run, keyed by seed (NaN values left out)."""
    values = {run.seed: measure(run, *args) for run in runs}
    return {seed: v for seed, v in values.items() if v is not None and not math.isnan(v)}
