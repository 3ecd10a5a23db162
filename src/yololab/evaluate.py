"""Evaluation of a checkpoint: the model and its data settings come from the checkpoint alone."""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from yololab.checkpoints import read_checkpoint, stored_run
from yololab.module import YOLODetectorModule
from yololab.train import report, write_run_files
from yololab.utils.instantiate import instantiate_group

log = logging.getLogger(__name__)


def load_checkpoint(path: str | Path, map_location: str = "cpu") -> tuple[YOLODetectorModule, dict]:
    """The module with the checkpoint's (EMA) weights, and the run config stored in it (checked first: see
    ``yololab.checkpoints``)."""
    ckpt = read_checkpoint(path, map_location)
    meta = stored_run(ckpt, path)
    model = hydra.utils.instantiate(meta["config"]["model"], class_names=meta["class_names"])
    model.load_state_dict(ckpt["state_dict"])
    model.config = meta["config"]
    return model.eval(), meta["config"]


def run(cfg: DictConfig) -> dict[str, float]:
    """Metrics of ``cfg.ckpt_path`` on ``cfg.split``; ``data.*`` overrides apply over the stored data config."""
    if not cfg.get("ckpt_path"):
        raise ValueError("ckpt_path is required: python scripts/eval.py ckpt_path=path/to/file.ckpt")
    model, stored = load_checkpoint(cfg.ckpt_path)
    overrides = {k: v for k, v in (cfg.get("data") or {}).items() if v is not None}
    data_cfg = OmegaConf.merge(stored["data"], overrides)
    if cfg.split != "val":  # any other split is evaluated as the test split
        data_cfg.test_split = cfg.split
    datamodule = hydra.utils.instantiate(data_cfg)
    trainer = hydra.utils.instantiate(cfg.trainer, logger=instantiate_group(cfg.get("logger")) or False,
                                      callbacks=[])
    runner = trainer.validate if cfg.split == "val" else trainer.test
    runner(model, datamodule=datamodule)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    if trainer.is_global_zero:
        write_run_files(Path(cfg.paths.output_dir), OmegaConf.to_container(cfg, resolve=True), metrics)
        log.info("%s on %s: %s", cfg.ckpt_path, cfg.split, report(metrics))
    return metrics
