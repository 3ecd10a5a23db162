"""Hydra entry points for the scripts in ``scripts/``, reading the repository's ``configs/``."""

from __future__ import annotations

import importlib
import os
import signal
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from yololab.utils import resolvers

resolvers.register()
CONFIG_DIR = os.environ.get("YOLOLAB_CONFIG_DIR", str(Path(__file__).resolve().parents[2] / "configs"))


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def train(cfg: DictConfig) -> float | None:
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    from yololab.multirun import job_scope, optimized_value
    from yololab.train import run

    try:
        with job_scope(cfg):
            metrics = run(cfg)
    except SIGTERMException:  # preempted: a checkpoint was written; report it as killed by SIGTERM
        sys.exit(128 + signal.SIGTERM)
    return optimized_value(cfg, metrics)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="check_data")
def check_data(cfg: DictConfig) -> None:
    from yololab.check_data import run

    status = run(cfg)
    if status:
        raise SystemExit(status)


def _entry(config_name: str, module: str):
    """A Hydra entry point that runs ``yololab.<module>.run`` on the composed ``config_name`` config
    (imported late, so ``--help`` and config errors come before torch loads)."""

    @hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name=config_name)
    def main(cfg: DictConfig) -> None:
        importlib.import_module(f"yololab.{module}").run(cfg)

    main.__name__ = module
    return main


evaluate = _entry("eval", "evaluate")
show_augmentations = _entry("show_augmentations", "show_augmentations")
benchmark_loader = _entry("benchmark_loader", "benchmark_loader")
predict = _entry("predict", "predict")
export = _entry("export", "export")
benchmark = _entry("benchmark", "benchmark")
