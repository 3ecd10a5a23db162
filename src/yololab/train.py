"""Training: compose the objects from the config, fit, optionally test, report the metrics."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import hydra
import lightning as L
from omegaconf import DictConfig, OmegaConf

from yololab.utils.instantiate import instantiate_group
from yololab.utils.wandb import finish_wandb

log = logging.getLogger(__name__)


def build(cfg: DictConfig):
    """(datamodule, model, trainer) from a composed config; the model gets the data's class names."""
    L.seed_everything(cfg.seed, workers=True)
    datamodule = hydra.utils.instantiate(cfg.data)
    model = hydra.utils.instantiate(cfg.model, class_names=datamodule.class_names)
    model.config = OmegaConf.to_container(cfg, resolve=True)
    loggers = instantiate_group(cfg.get("logger"))
    trainer = hydra.utils.instantiate(cfg.trainer, callbacks=instantiate_group(cfg.get("callbacks")),
                                      logger=loggers or False)
    for logger in loggers:
        logger.log_hyperparams(model.config)
    return datamodule, model, trainer


def report(metrics: dict, keys=("val/mAP50", "val/mAP50-95", "test/mAP50", "test/mAP50-95")) -> str:
    return "  ".join(f"{k}={float(metrics[k]):.4f}" for k in keys if k in metrics)


def write_run_files(out: Path, config: dict, metrics: dict[str, float]) -> None:
    """``config.yaml`` (resolved) and ``metrics.json`` (final values) in the run folder, for analysis."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(OmegaConf.to_yaml(config))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))


def run(cfg: DictConfig) -> dict[str, float]:
    """Train (and test, with ``test=true``); returns the final metrics."""
    datamodule, model, trainer = build(cfg)
    try:
        if cfg.get("train", True):
            trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
        if cfg.get("test", False):
            best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
            trainer.test(model, datamodule=datamodule, ckpt_path=best or None, weights_only=True)
            metrics.update({k: float(v) for k, v in trainer.callback_metrics.items()})
    except BaseException:
        finish_wandb(exit_code=1)
        raise
    finish_wandb()
    if trainer.is_global_zero:
        write_run_files(Path(cfg.paths.output_dir), model.config, metrics)
        log.info("final metrics: %s", report(metrics))
        log.info("outputs in %s", cfg.paths.output_dir)
    return metrics
