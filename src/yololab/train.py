"""Training: compose the objects from the config, fit, optionally test, report the metrics."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import hydra
import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from yololab.utils.instantiate import instantiate_group
from yololab.utils.wandb import finish_wandb

log = logging.getLogger(__name__)


def resolve_checkpoint(ckpt_path: str | None, output_dir: str) -> Path | None:
    """``last``: this run folder's ``checkpoints/last.ckpt`` if there is one (else start afresh);
    a run folder: its ``checkpoints/last.ckpt``; a file: itself."""
    if not ckpt_path:
        return None
    if ckpt_path == "last":
        path = Path(output_dir) / "checkpoints" / "last.ckpt"
        if not path.is_file():
            log.info("ckpt_path=last: no %s yet, starting from scratch", path)
            return None
        return path
    path = Path(ckpt_path)
    if path.is_dir():
        path = path / "checkpoints" / "last.ckpt"
    if not path.is_file():
        raise FileNotFoundError(f"ckpt_path: checkpoint not found: {path}")
    return path


def check_devices(trainer_cfg: DictConfig) -> None:
    """Asking for more GPUs than exist fails here, with the fix, instead of deep inside Lightning."""
    devices, accelerator = trainer_cfg.get("devices", 1), trainer_cfg.get("accelerator", "auto")
    if not isinstance(devices, int) or accelerator not in ("auto", "gpu", "cuda"):
        return
    available = torch.cuda.device_count()
    if devices > max(available, 1) or (accelerator != "auto" and devices > available):
        raise ValueError(
            f"trainer.devices={devices} but this machine has {available} GPU(s). Use trainer.devices<={available}, "
            f"or trainer=ddp_cpu trainer.devices={devices} to run {devices} CPU processes."
        )


def build(cfg: DictConfig, checkpoint: Path | None = None):
    """(datamodule, model, trainer) from a composed config; the model gets the data's class names.
    When resuming, the W&B run continues under the checkpoint's run id."""
    check_devices(cfg.trainer)
    L.seed_everything(cfg.seed, workers=True)
    datamodule = hydra.utils.instantiate(cfg.data)
    model = hydra.utils.instantiate(cfg.model, class_names=datamodule.class_names)
    model.config = OmegaConf.to_container(cfg, resolve=True)
    wandb_id = stored_wandb_id(checkpoint)
    if wandb_id and cfg.get("logger") and cfg.logger.get("wandb"):
        with open_dict(cfg):
            cfg.logger.wandb.id, cfg.logger.wandb.resume = wandb_id, "allow"
    loggers = instantiate_group(cfg.get("logger"))
    trainer = hydra.utils.instantiate(cfg.trainer, callbacks=instantiate_group(cfg.get("callbacks")),
                                      logger=loggers or False)
    for logger in loggers:
        logger.log_hyperparams(model.config)
    return datamodule, model, trainer


def stored_wandb_id(checkpoint: Path | None) -> str | None:
    if checkpoint is None:
        return None
    meta = torch.load(checkpoint, map_location="cpu", weights_only=True).get("yololab", {})
    return meta.get("wandb_id")


def report(metrics: dict, keys=("val/mAP50", "val/mAP50-95", "test/mAP50", "test/mAP50-95")) -> str:
    return "  ".join(f"{k}={float(metrics[k]):.4f}" for k in keys if k in metrics)


def write_run_files(out: Path, config: dict, metrics: dict[str, float]) -> None:
    """``config.yaml`` (resolved) and ``metrics.json`` (final values) in the run folder, for analysis."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(OmegaConf.to_yaml(config))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))


def run(cfg: DictConfig) -> dict[str, float]:
    """Train (and test, with ``test=true``); returns the final metrics."""
    checkpoint = resolve_checkpoint(cfg.get("ckpt_path"), cfg.paths.output_dir)
    datamodule, model, trainer = build(cfg, checkpoint)
    try:
        if cfg.get("train", True):
            trainer.fit(model, datamodule=datamodule, ckpt_path=checkpoint, weights_only=True)
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
