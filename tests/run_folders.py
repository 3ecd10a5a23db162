"""Write made-up run folders, as training leaves them, for the study report: ``config.yaml``, ``metrics.json``
(the final metrics), ``csv/metrics.csv`` (learning curve and gradient-flow rows) and ``gradflow_layers.json``.

A made-up study is ``{arm: {seed: final mAP50-95}}``; gradients are given per arm as the norm of each layer
(the same at every logged step, times a small per-seed factor): weight gradients (``grads``) and the backward
signal, the gradient with respect to each layer's input (``signals``).
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import yaml

LAYERS = [("head.box.0.0", "relu"), ("head.box.0.1", "relu"), ("head.box.0.2", None)]
HEAD_CLAIMS = [  # the four claims of the head-activation study, as a study file declares them
    {"name": "leaky_worse", "text": "LeakyReLU in the head is worse than ReLU (lower mAP).", "arms": ["leaky_relu"],
     "reference": "relu", "metric": "val/mAP50-95", "direction": "lower", "margin": 0.01},
    {"name": "leaky_vanishing", "text": "LeakyReLU's head gradients vanish more than ReLU's.", "arms": ["leaky_relu"],
     "reference": "relu", "metric": "vanishing", "direction": "lower", "margin": 0.1, "beside": ["grad_magnitude"]},
    {"name": "slope_trend", "text": "Results depend on the LeakyReLU slope α.", "kind": "trend",
     "parameter": "activation.negative_slope", "arms": ["relu", "leaky_relu"], "metric": "val/mAP50-95",
     "margin": 0.01},
    {"name": "elu_selu_better", "text": "ELU or SELU in the head do better than ReLU.", "arms": ["elu", "selu"],
     "reference": "relu", "metric": "val/mAP50-95", "direction": "higher", "margin": 0.01, "need": "any"},
]


def write_study_file(path: Path, claims: list[dict] | None = None, **keys) -> Path:
    """A study file with ``claims`` (default: the head-activation study's four) and other top-level keys."""
    path.write_text(yaml.safe_dump({**keys, "claims": HEAD_CLAIMS if claims is None else claims},
                                   sort_keys=False, allow_unicode=True))
    return path
STEPS = 3


def write_run(root: Path, arm: str, seed: int, final: float, activation: str | None = None,
              grads: list[float] | None = None, layers: list[tuple[str, str | None]] | None = None,
              config: dict | None = None, metrics: dict | None = None, signal: list[float] | None = None,
              signal_at_start: list[float] | None = None) -> Path:
    """One finished run; ``activation`` None leaves ``model.head.activation`` out of the config; ``config`` and
    ``metrics`` are merged into its config and final metrics; ``signal_at_start`` replaces ``signal`` at step 0."""
    layers = layers or LAYERS
    grads = grads or [1.0] * len(layers)
    signal = signal or [1.0] * len(layers)
    folder = root / f"{arm}-seed{seed}"
    (folder / "csv").mkdir(parents=True)
    config = merged({"arm": arm, "seed": seed, "model": {"head": {"activation": activation} if activation else {}}},
                    config or {})
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    (folder / "metrics.json").write_text(json.dumps({"val/mAP50-95": final, "val/mAP50": min(1.0, 2 * final),
                                                     **(metrics or {})}))
    (folder / "gradflow_layers.json").write_text(json.dumps(
        [{"depth": i, "name": name, "params": 1, "activation": act} for i, (name, act) in enumerate(layers)]))
    scale = 1 + 0.01 * seed
    rows = [{"step": s, **{f"gradflow/grad_norm/{name}": g * scale for (name, _), g in zip(layers, grads,
                                                                                             strict=True)},
             **{f"gradflow/input_grad_norm/{name}": g * scale
                for (name, _), g in zip(layers, signal_at_start if s == 0 and signal_at_start else signal,
                                        strict=False)}}
            for s in range(STEPS)]
    rows += [{"epoch": e, "val/mAP50-95": final * (e + 1) / 2} for e in range(2)]
    columns = sorted({k for r in rows for k in r})
    with open(folder / "csv" / "metrics.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        writer.writerows(rows)
    return folder


def merged(base: dict, extra: dict) -> dict:
    """``base`` with ``extra`` merged in, nested mappings key by key."""
    out = dict(base)
    for key, value in extra.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def spec_of(arm: str) -> str:
    """The activation an arm name stands for, as the study's experiment files write it: leaky_relu_0.1 is
    leaky_relu:0.1."""
    return re.sub(r"_(?=[\d.]+$)", ":", arm)


def write_study(root: Path, finals: dict[str, dict[int, float]], activations: dict[str, str | None] | None = None,
                grads: dict[str, list[float]] | None = None, signals: dict[str, list[float]] | None = None) -> Path:
    """Every arm's runs; an arm's activation defaults to the one its name stands for."""
    for arm, by_seed in finals.items():
        activation = (activations or {}).get(arm, spec_of(arm))
        for seed, final in by_seed.items():
            write_run(root, arm, seed, final, activation, (grads or {}).get(arm), signal=(signals or {}).get(arm))
    return root


def shifted(base: dict[int, float], shift: float, noise: dict[int, float] | None = None) -> dict[int, float]:
    return {seed: value + shift + (noise or {}).get(seed, 0.0) for seed, value in base.items()}
