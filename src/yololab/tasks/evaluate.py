"""Evaluation of a checkpoint: the model and its data settings come from the checkpoint alone."""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from yololab.module import YOLODetectorModule
from yololab.utils.instantiate import instantiate_group
from yololab.utils.run_files import metrics_line, trainer_metrics, write_run_files

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> dict[str, float]:
    """Metrics of ``cfg.ckpt_path`` on ``cfg.split``; ``data.*`` overrides apply over the stored data config."""
    if not cfg.get("ckpt_path"):
        raise ValueError("ckpt_path is required: python scripts/eval.py ckpt_path=path/to/file.ckpt")
    model = YOLODetectorModule.from_checkpoint(cfg.ckpt_path)
    overrides = {k: v for k, v in (cfg.get("data") or {}).items() if v is not None}
    data_cfg = OmegaConf.merge(model.config["data"], overrides)
    if cfg.split != "val":  # any other split is evaluated as the test split
        data_cfg.test_split = cfg.split
    datamodule = hydra.utils.instantiate(data_cfg)
    trainer = hydra.utils.instantiate(cfg.trainer, logger=instantiate_group(cfg.get("logger")) or False,
                                      callbacks=instantiate_group(cfg.get("callbacks")))
    runner = trainer.validate if cfg.split == "val" else trainer.test
    runner(model, datamodule=datamodule)
    metrics = trainer_metrics(trainer)
    if trainer.is_global_zero:
        write_run_files(Path(cfg.paths.output_dir), OmegaConf.to_container(cfg, resolve=True), metrics)
        log.info("%s on %s: %s", cfg.ckpt_path, cfg.split, metrics_line(metrics))
    return metrics
