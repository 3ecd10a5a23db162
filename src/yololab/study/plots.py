"""The report's figures (matplotlib, Agg backend, PNG). Each function takes the runs grouped by arm and
writes one file."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from yololab.study import measures, stats
from yololab.study.runs import Run

DPI = 110


def _colors(arms: list[str]) -> dict[str, tuple]:
    cmap = plt.get_cmap("tab10" if len(arms) <= 10 else "tab20")
    return {arm: cmap(i % cmap.N) for i, arm in enumerate(arms)}


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def _jitter(n: int) -> np.ndarray:
    return np.linspace(-0.15, 0.15, n) if n > 1 else np.zeros(n)


def per_arm_values(groups: dict[str, list[Run]], values: dict[str, list[float]], ylabel: str, title: str,
                   path: Path, ax=None) -> Path | None:
    """Each run as a dot, the arm's mean as a bar with its 95% bootstrap interval."""
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(max(5.5, 0.8 * len(groups) + 2), 3.6))
    colors = _colors(list(groups))
    for i, arm in enumerate(groups):
        v = [x for x in values[arm] if not math.isnan(x)]
        if not v:
            continue
        s = stats.summarize(v)
        err = [[s.mean - s.ci_low], [s.ci_high - s.mean]] if not math.isnan(s.ci_low) else None
        ax.bar(i, s.mean, color=colors[arm], alpha=0.35, width=0.6)
        ax.errorbar(i, s.mean, yerr=err, color="black", capsize=4, lw=1)
        ax.scatter(i + _jitter(len(v)), v, color=colors[arm], edgecolor="black", lw=0.5, s=18, zorder=3)
    ax.set_xticks(range(len(groups)), list(groups), rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_ylim(bottom=0)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path) if own else None


def map_per_arm(groups: dict[str, list[Run]], path: Path) -> Path:
    fig, axes = plt.subplots(1, 2, figsize=(max(8.0, 1.4 * len(groups) + 3), 3.8))
    for ax, metric in zip(axes, ("val/mAP50", "val/mAP50-95"), strict=True):
        values = {arm: [measures.final(r, metric) for r in runs] for arm, runs in groups.items()}
        per_arm_values(groups, values, metric, f"{metric}: mean, 95% CI, runs", path, ax=ax)
    return _save(fig, path)


def differences(comparisons: dict[str, list[stats.Paired]], baseline: str, path: Path, alpha: float = 0.05) -> Path:
    """Paired differences against the baseline (mAP points) with their 95% t intervals."""
    fig, axes = plt.subplots(1, len(comparisons), figsize=(5.0 * len(comparisons), 0.45 * max(
        len(c) for c in comparisons.values()) + 1.8), squeeze=False)
    for ax, (metric, rows) in zip(axes[0], comparisons.items(), strict=True):
        y = np.arange(len(rows))[::-1]
        mean = np.array([100 * c.mean_diff for c in rows])
        low = np.array([100 * c.ci_low for c in rows])
        high = np.array([100 * c.ci_high for c in rows])
        ok = ~np.isnan(low)
        ax.errorbar(mean[ok], y[ok], xerr=[mean[ok] - low[ok], high[ok] - mean[ok]], fmt="none", color="gray",
                    capsize=3)
        ax.scatter(mean, y, color=["tab:red" if c.p_holm < alpha else "tab:blue" for c in rows], zorder=3)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(y, [c.arm for c in rows])
        ax.set_xlabel(f"{metric}: arm − {baseline} (points)")
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(f"Paired by seed, 95% t interval; red: Holm-adjusted p < {alpha:g}", fontsize=9)
    return _save(fig, path)


def learning_curves(groups: dict[str, list[Run]], metric: str, path: Path, target: float | None = None) -> Path:
    """The metric per epoch: mean over seeds with a ±1 standard deviation band."""
    fig, ax = plt.subplots(figsize=(6.5, 4.0))
    for arm, color in _colors(list(groups)).items():
        epochs = sorted({e for r in groups[arm] for e in r.curves.get(metric, {})})
        if not epochs:
            continue
        table = [[r.curves.get(metric, {}).get(e, np.nan) for r in groups[arm]] for e in epochs]
        mean, std = np.nanmean(table, axis=1), np.nan_to_num(np.nanstd(table, axis=1))
        ax.plot(epochs, mean, color=color, label=f"{arm} (n={len(groups[arm])})")
        ax.fill_between(epochs, mean - std, mean + std, color=color, alpha=0.15)
    if target is not None:
        ax.axhline(target, color="gray", ls="--", lw=0.8, label=f"target {target:.3f}")
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.set_title(f"Learning curves: {metric}, mean ± std over seeds")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def layouts(groups: dict[str, list[Run]]) -> dict[tuple[str, ...], list[Run]]:
    """The runs grouped by their head's layer list (names in depth order), most runs first."""
    found: dict[tuple[str, ...], list[Run]] = {}
    for run in (r for runs in groups.values() for r in runs):
        found.setdefault(tuple(name for name, _ in run.layers), []).append(run)
    return dict(sorted(found.items(), key=lambda item: -len(item[1])))


def _depth_panel(ax, groups: dict[str, list[Run]], runs: list[Run], colors: dict[str, tuple]) -> None:
    layers = runs[0].layers
    x = np.arange(len(layers))
    hidden = np.array([act is not None for _, act in layers], dtype=bool)
    for arm in groups:
        norms = np.array([measures.layer_grad_norms(r) for r in runs if r.arm == arm])
        if norms.size == 0:
            continue
        mean = np.nanmean(norms, axis=0)
        mean[mean <= 0] = np.nan
        for i, chain in enumerate(measures.chains(layers)):
            ax.plot(x[chain], mean[chain], color=colors[arm], lw=1, label=arm if i == 0 else None)
        ax.scatter(x[hidden], mean[hidden], color=colors[arm], s=16)
        ax.scatter(x[~hidden], mean[~hidden], facecolor="white", edgecolor=colors[arm], s=16)
    ax.set_yscale("log")
    ax.set_xticks(x, [name for name, _ in layers], rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("weight-gradient norm (mean over steps)")
    ax.set_title(f"{len(layers)} layers, {len(runs)} runs", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def grad_norm_depth(groups: dict[str, list[Run]], path: Path) -> Path:
    """Per layer (depth order of gradflow_layers.json), the gradient norm averaged over training and over the
    seeds, one line per path through the head; one panel per layer layout, so that runs of another depth are
    drawn, not dropped. Filled markers: layers followed by an activation; open: linear output layers; gaps: no
    gradient at all (e.g. a level without assigned targets)."""
    panels = [runs for layout, runs in layouts(groups).items() if layout]
    widest = max((len(runs[0].layers) for runs in panels), default=1)
    fig, axes = plt.subplots(max(len(panels), 1), 1, figsize=(max(6.5, 0.42 * widest + 2), 4.4 * max(len(panels), 1)),
                             squeeze=False)
    colors = _colors(list(groups))
    for ax, runs in zip(axes[:, 0], panels, strict=False):
        _depth_panel(ax, groups, runs, colors)
    axes[-1, 0].set_xlabel("head layer (depth order; a line per path from input to output)")
    fig.suptitle("Gradient norm per head layer (open markers: linear output layers)", fontsize=10)
    return _save(fig, path)


def dead_fraction(groups: dict[str, list[Run]], path: Path) -> Path:
    values = {arm: [measures.dead_fraction(r) for r in runs] for arm, runs in groups.items()}
    return per_arm_values(groups, values, "dead-unit fraction",
                          "Dead units in the hidden head layers (mean, 95% CI, runs)", path)


def epochs_to_target(groups: dict[str, list[Run]], metric: str, target: float, path: Path) -> Path:
    """Epochs each run needed to reach the target; runs that never did are drawn as x above the last epoch."""
    fig, ax = plt.subplots(figsize=(max(5.5, 0.8 * len(groups) + 2), 3.6))
    top = max((e for runs in groups.values() for r in runs for e in r.curves.get(metric, {})), default=1)
    for i, (arm, color) in enumerate(_colors(list(groups)).items()):
        reached = [measures.epochs_to(r, metric, target) for r in groups[arm]]
        xs = i + _jitter(len(reached))
        hit = [(x, e) for x, e in zip(xs, reached, strict=True) if e is not None]
        miss = [x for x, e in zip(xs, reached, strict=True) if e is None]
        if hit:
            ax.scatter(*zip(*hit, strict=True), color=color, edgecolor="black", lw=0.5, zorder=3)
            ax.hlines(np.mean([e for _, e in hit]), i - 0.25, i + 0.25, color=color, lw=2)
        if miss:
            ax.scatter(miss, [top + 1] * len(miss), marker="x", color=color)
    ax.axhline(top + 0.5, color="gray", lw=0.6, ls=":")
    ax.set_xticks(range(len(groups)), list(groups), rotation=30, ha="right")
    ax.set_ylabel("epochs")
    ax.set_title(f"Epochs to {metric} ≥ {target:.3f} (x: never)", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)
