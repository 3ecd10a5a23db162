"""What the report measures on one run, beside its final metrics.

- ``head_grad_norm``: the overall gradient magnitude in the head's hidden layers (those followed by an
  activation): the root of the sum of their squared weight-gradient norms, each averaged over the logged
  steps. It says nothing about depth, and a lower loss alone lowers it;
- ``log_backward_ratio``: vanishing, measured on the backward signal itself (``input_grad_norm``, the norm of
  the gradient of the loss with respect to a layer's input): per path through the head (``head.box.0.*``) of at
  least two hidden layers, log10 of the signal at the first hidden layer's output (the second layer's input) over
  that at the last hidden layer's output (the output layer's input), per logged step; the mean over the paths and
  the steps (``log_backward_ratio_early``: over the first part of the logged steps alone). Both are maps of
  ``width`` channels, so the norms compare like with like; the first layer's input (the trunk's map, another
  shape) is left out. More negative: the signal shrinks on its way back towards the trunk; 0: it keeps its
  size. A path with no signal at an end in a step is left out there;
- ``backward_profile``: per position along the paths (0: the first layer's input ... D: the output layer's
  input), the mean log10 of the signal there over the signal at the output layer's input;
- ``log_gradient_ratio``: the same ratio on weight-gradient norms, input-side layer over output-side layer. It
  mixes the forward activations into the backward signal and compares tensors of different shapes: kept as a
  description (``weight_gradient_ratio``), not as the measure of vanishing;
- ``dead_fraction``: the mean over those layers of the share of channels that pass no gradient for any
  input of a logged batch, averaged over the logged steps;
- ``epochs_to``: the first epoch (counting from 1) whose validation metric reaches a target.
"""

from __future__ import annotations

import itertools
import math
import statistics

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


def chains(layers: list[tuple[str, str | None]]) -> list[list[int]]:
    """Index runs of consecutive layers in one module (``head.box.0.*``): the paths from input to output. When
    no module holds two layers, the whole list is one path."""
    parents = [name.rsplit(".", 1)[0] for name, _ in layers]
    bounds = [0] + [i for i in range(1, len(parents)) if parents[i] != parents[i - 1]] + [len(parents)]
    found = [list(range(a, b)) for a, b in itertools.pairwise(bounds)]
    return found if any(len(c) > 1 for c in found) else [list(range(len(layers)))]


def step_log_ratio(norms: dict[str, float], paths: list[list[str]]) -> float:
    """Mean over the paths of log10(input-side norm / output-side norm) at one step; NaN when no path has both."""
    ratios = [math.log10(norms[p[0]] / norms[p[-1]]) for p in paths
              if len(p) > 1 and norms.get(p[0], 0) > 0 and norms.get(p[-1], 0) > 0]
    return statistics.fmean(ratios) if ratios else math.nan


def named_paths(run: Run, min_layers: int) -> list[list[str]]:
    """The head's paths (``chains``) of at least ``min_layers`` weight layers, by layer name."""
    return [[run.layers[i][0] for i in chain] for chain in chains(run.layers) if len(chain) >= min_layers]


def mean_step_ratio(steps: list[dict[str, float]], paths: list[list[str]]) -> float:
    """Mean over logged steps of ``step_log_ratio``; NaN when no step has a ratio."""
    ratios = [v for v in (step_log_ratio(norms, paths) for norms in steps) if not math.isnan(v)]
    return statistics.fmean(ratios) if ratios else math.nan


def log_gradient_ratio(run: Run) -> float:
    return mean_step_ratio(run.grad_steps, named_paths(run, 1))


def log_backward_ratio(run: Run) -> float:
    """Signal at the first hidden layer's output (the second layer's input) over the last hidden layer's output,
    on paths with at least two hidden layers."""
    return mean_step_ratio(run.signal_steps, backward_paths(run))


def log_backward_ratio_early(run: Run, fraction: float) -> float:
    """The same ratio over the first ``fraction`` of the logged steps (at least one): the part of a schedule in
    which an init's vanishing, which training removes, can still act."""
    steps = run.signal_steps[:max(1, round(fraction * len(run.signal_steps)))]
    return mean_step_ratio(steps, backward_paths(run))


def log_backward_ratio_at_start(run: Run) -> float:
    """The same ratio at the first logged step alone: the weights as initialised (descriptive; the study's rules
    use the mean over the run)."""
    return step_log_ratio(run.signal_steps[0], backward_paths(run)) if run.signal_steps else math.nan


def backward_paths(run: Run) -> list[list[str]]:
    """Each path from its first hidden layer's output (the second layer's input) to its output layer's input."""
    return [p[1:] for p in named_paths(run, 3)]


def backward_profile(run: Run) -> list[float]:
    """Mean log10 of the signal at each position of the paths relative to the output layer's input (the last
    entry 0); positions follow the longest path, NaN where no step has them."""
    paths = named_paths(run, 2)
    length = max((len(p) for p in paths), default=0)
    values: list[list[float]] = [[] for _ in range(length)]
    for norms in run.signal_steps:
        for path in paths:
            end = norms.get(path[-1], 0)
            for position, name in enumerate(path, start=length - len(path)):
                if end > 0 and norms.get(name, 0) > 0:
                    values[position].append(math.log10(norms[name] / end))
    return [statistics.fmean(v) if v else math.nan for v in values]


def log10_head_grad_norm(run: Run) -> float:
    value = head_grad_norm(run)
    return math.log10(value) if value > 0 else math.nan


def dead_fraction(run: Run) -> float:
    dead = run.gradflow.get("dead_fraction", {})
    values = [dead[n] for n in activation_layers(run) if n in dead]
    return statistics.fmean(values) if values else math.nan


def epochs_to(run: Run, metric: str, target: float) -> int | None:
    """None when the run never reaches ``target``."""
    return next((epoch for epoch, value in sorted(run.curves.get(metric, {}).items()) if value >= target), None)


def epoch_seconds(run: Run) -> float:
    """Training plus validation seconds over the run's epochs (the EpochTimer's figures; start-up not included)."""
    return sum(sum(run.curves.get(key, {}).values()) for key in ("time/train_s", "time/val_s"))


def threads(run: Run) -> str:
    """The CPU threads the run was given (``threads``), or "default" (torch's: one per core)."""
    return str(run.config.get("threads") or "default")


def by_seed(runs: list[Run], measure, *args) -> dict[int, float]:
    """``measure(run, *args)`` of every run, keyed by seed (NaN values left out)."""
    values = {run.seed: measure(run, *args) for run in runs}
    return {seed: v for seed, v in values.items() if v is not None and not math.isnan(v)}
