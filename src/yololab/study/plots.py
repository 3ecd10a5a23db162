"""The report's figures (matplotlib, Agg backend, PNG), each drawn from the results object alone."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

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


def _grid(n: int, width: float, height: float):
    """A figure of n panels, at most three a row; the unused axes hidden."""
    cols = min(3, max(n, 1))
    rows = math.ceil(max(n, 1) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def _arms(r: dict) -> list[str]:
    return [a["name"] for a in r["arms"]]


def _bar(ax, i: int, mean: float, low: float, high: float, values: list[float], color) -> None:
    """The arm's mean as a bar, its interval (if any; never negative, whatever the rounding), its runs as dots."""
    ax.bar(i, mean, color=color, alpha=0.35, width=0.6)
    if not (math.isnan(low) or math.isnan(high)):
        ax.errorbar(i, mean, yerr=[[max(mean - low, 0.0)], [max(high - mean, 0.0)]], color="black", capsize=4,
                    lw=1)
    ax.scatter(i + _jitter(len(values)), values, color=color, edgecolor="black", lw=0.5, s=18, zorder=3)


def _arm_axis(ax, arms: list[str], ylabel: str, title: str) -> None:
    ax.set_xticks(range(len(arms)), arms, rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)


def per_arm(r: dict, path: Path) -> Path:
    """Per shown metric: each run as a dot, the arm's mean as a bar with its 95% bootstrap interval."""
    names, arms, colors = list(r["summaries"]), _arms(r), _colors(_arms(r))
    fig, axes = _grid(len(names), max(4.5, 0.8 * len(arms) + 2), 3.8)
    for ax, name in zip(axes, names, strict=True):
        q = r["quantities"][name]
        for i, arm in enumerate(arms):
            s = r["summaries"][name][arm]
            if s["n"]:
                f = q["factor"]
                _bar(ax, i, f * s["mean"], f * s["ci_low"], f * s["ci_high"], [f * v for v in s["values"]],
                     colors[arm])
        _arm_axis(ax, arms, f"{name} ({q['unit']})", f"{name}: mean, 95% CI, runs")
    return _save(fig, path)


def differences(r: dict, path: Path) -> Path:
    """Paired differences against the baseline with their 95% t intervals; red: Holm p < α in its family."""
    items = list(r["differences"].items())
    alpha = r["design"]["alpha"]
    fig, axes = _grid(len(items), 5.0, 0.45 * max([len(ids) for _, ids in items] + [1]) + 1.8)
    for ax, (name, ids) in zip(axes, items, strict=True):
        rows = [r["comparisons"][k] for k in ids]
        f = r["quantities"][name]["factor"]
        y = np.arange(len(rows))[::-1]
        mean = np.array([f * c["estimate"] for c in rows])
        low, high = np.array([f * c["ci_low"] for c in rows]), np.array([f * c["ci_high"] for c in rows])
        ok = ~np.isnan(low)
        ax.errorbar(mean[ok], y[ok], xerr=[np.maximum(mean[ok] - low[ok], 0), np.maximum(high[ok] - mean[ok], 0)],
                    fmt="none", color="gray", capsize=3)
        ax.scatter(mean, y, color=["tab:red" if c["p_holm"] < alpha else "tab:blue" for c in rows], zorder=3)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(y, [c["arm"] for c in rows])
        ax.set_xlabel(f"{name}: arm − {r['design']['baseline']} ({r['quantities'][name]['unit']})")
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(f"Paired by seed, 95% t interval; red: Holm-adjusted p < {alpha:g} in its family", fontsize=9)
    return _save(fig, path)


def learning_curves(r: dict, path: Path) -> Path:
    """The main metric per epoch: mean over seeds with a ±1 standard deviation band."""
    metric, target = r["training"]["metric"], r["training"]["target"]
    fig, ax = plt.subplots(figsize=(6.5, 4.0))
    for arm, color in _colors(_arms(r)).items():
        curve = r["figures"]["curves"].get(arm)
        if curve:
            mean, std = np.array(curve["mean"]), np.array(curve["std"])
            ax.plot(curve["epochs"], mean, color=color, label=f"{arm} (n={curve['n']})")
            ax.fill_between(curve["epochs"], mean - std, mean + std, color=color, alpha=0.15)
    ax.axhline(target, color="gray", ls="--", lw=0.8, label=f"target {target:.3f}")
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.set_title(f"Learning curves: {metric}, mean ± std over seeds")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def _depth_panel(ax, panel: dict, colors: dict[str, tuple]) -> None:
    layers = panel["layers"]
    x = np.arange(len(layers))
    hidden = np.array([act is not None for _, act in layers], dtype=bool)
    for arm, norms in panel["arms"].items():
        mean = np.array(norms, dtype=float)
        mean[~(mean > 0)] = np.nan
        for i, chain in enumerate(panel["chains"]):
            ax.plot(x[chain], mean[chain], color=colors[arm], lw=1, label=arm if i == 0 else None)
        ax.scatter(x[hidden], mean[hidden], color=colors[arm], s=16)
        ax.scatter(x[~hidden], mean[~hidden], facecolor="white", edgecolor=colors[arm], s=16)
    if np.any([np.nanmax(np.array(v, dtype=float), initial=0) > 0 for v in panel["arms"].values()]):
        ax.set_yscale("log")
    ax.set_xticks(x, [name for name, _ in layers], rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("weight-gradient norm (mean over steps)")
    ax.set_title(f"{len(layers)} layers, {panel['runs']} runs", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def grad_norm_depth(r: dict, path: Path) -> Path:
    """Per layer (depth order), the gradient norm averaged over training and the seeds, a line per path through
    the head; one panel per layer layout. Open markers: linear output layers; gaps: no gradient."""
    panels = r["figures"]["layouts"]
    widest = max((len(p["layers"]) for p in panels), default=1)
    fig, axes = plt.subplots(max(len(panels), 1), 1, figsize=(max(6.5, 0.42 * widest + 2), 4.4 * max(len(panels), 1)),
                             squeeze=False)
    colors = _colors(_arms(r))
    for ax, panel in zip(axes[:, 0], panels, strict=False):
        _depth_panel(ax, panel, colors)
    axes[-1, 0].set_xlabel("head layer (depth order; a line per path from input to output)")
    fig.suptitle("Gradient norm per head layer (open markers: linear output layers)", fontsize=10)
    return _save(fig, path)


def dead_fraction(r: dict, path: Path) -> Path:
    arms, colors = _arms(r), _colors(_arms(r))
    fig, ax = plt.subplots(figsize=(max(5.5, 0.8 * len(arms) + 2), 3.6))
    for i, arm in enumerate(arms):
        values = [v for v in r["training"]["rows"][arm]["dead_values"] if not math.isnan(v)]
        if values:
            _bar(ax, i, float(np.mean(values)), math.nan, math.nan, values, colors[arm])
    _arm_axis(ax, arms, "dead-unit fraction", "Dead units in the hidden head layers (mean, runs)")
    return _save(fig, path)


def epochs_to_target(r: dict, path: Path) -> Path:
    """Epochs each run needed to reach the target; runs that never did are drawn as x above the last epoch."""
    t, arms = r["training"], _arms(r)
    fig, ax = plt.subplots(figsize=(max(5.5, 0.8 * len(arms) + 2), 3.6))
    top = max((e for c in r["figures"]["curves"].values() for e in c["epochs"]), default=1)
    for i, (arm, color) in enumerate(_colors(arms).items()):
        reached = t["rows"][arm]["epochs"]
        xs = i + _jitter(len(reached))
        hit = [(x, e) for x, e in zip(xs, reached, strict=True) if e is not None]
        miss = [x for x, e in zip(xs, reached, strict=True) if e is None]
        if hit:
            ax.scatter(*zip(*hit, strict=True), color=color, edgecolor="black", lw=0.5, zorder=3)
            ax.hlines(np.mean([e for _, e in hit]), i - 0.25, i + 0.25, color=color, lw=2)
        if miss:
            ax.scatter(miss, [top + 1] * len(miss), marker="x", color=color)
    ax.axhline(top + 0.5, color="gray", lw=0.6, ls=":")
    _arm_axis(ax, arms, "epochs", f"Epochs to {t['metric']} ≥ {t['target']:.3f} (x: never)")
    return _save(fig, path)


def draw(r: dict, out: Path, names: tuple[str, ...]) -> None:
    for function, name in zip((per_arm, differences, learning_curves, grad_norm_depth, dead_fraction,
                               epochs_to_target), names, strict=True):
        function(r, out / name)
