"""Hydra entry points for the scripts in ``scripts/``, reading the repository's ``configs/``."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

CONFIG_DIR = os.environ.get("YOLOLAB_CONFIG_DIR", str(Path(__file__).resolve().parents[2] / "configs"))


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def train(cfg: DictConfig) -> float | None:
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    from yololab.train import run

    try:
        metrics = run(cfg)
    except SIGTERMException:  # preempted: a checkpoint was written; report it as killed by SIGTERM
        sys.exit(128 + signal.SIGTERM)
    return metrics.get(cfg.get("optimized_metric", ""))


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="eval")
def evaluate(cfg: DictConfig) -> None:
    from yololab.evaluate import run

    run(cfg)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="check_data")
def check_data(cfg: DictConfig) -> None:
    from yololab.check_data import run

    status = run(cfg)
    if status:
        raise SystemExit(status)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="show_augmentations")
def show_augmentations(cfg: DictConfig) -> None:
    from yololab.show_augmentations import run

    run(cfg)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="benchmark_loader")
def benchmark_loader(cfg: DictConfig) -> None:
    from yololab.benchmark_loader import run

    run(cfg)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="predict")
def predict(cfg: DictConfig) -> None:
    from yololab.predict import run

    run(cfg)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="export")
def export(cfg: DictConfig) -> None:
    from yololab.export import run

    run(cfg)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="benchmark")
def benchmark(cfg: DictConfig) -> None:
    from yololab.benchmark import run

    run(cfg)
