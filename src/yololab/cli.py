"""Hydra entry points for the scripts in ``scripts/``, reading the repository's ``configs/``."""

from __future__ import annotations

import os
from pathlib import Path

import hydra
from omegaconf import DictConfig

CONFIG_DIR = os.environ.get("YOLOLAB_CONFIG_DIR", str(Path(__file__).resolve().parents[2] / "configs"))


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def train(cfg: DictConfig) -> float | None:
    from yololab.train import run

    metrics = run(cfg)
    return metrics.get(cfg.get("optimized_metric", ""))


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="eval")
def evaluate(cfg: DictConfig) -> None:
    from yololab.evaluate import run

    run(cfg)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="predict")
def predict(cfg: DictConfig) -> None:
    from yololab.predict import run

    run(cfg)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="export")
def export(cfg: DictConfig) -> None:
    from yololab.export import run

    run(cfg)
