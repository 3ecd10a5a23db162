"""Prints and logs the detector's summary when fitting starts."""

from __future__ import annotations

import logging

import lightning as L
from lightning.pytorch.utilities import rank_zero_only

from yololab.models.summary import format_summary, model_summary

log = logging.getLogger(__name__)


class DetectorSummary(L.Callback):
    """Per component: class, activations, parameters (all, and the trainable ones:
    ``model.freeze`` fixes the others) and GFLOPs at the training image size."""

    def __init__(self, img_size: int | None = None) -> None:
        self.img_size = img_size
        self.summary: dict | None = None

    @rank_zero_only
    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        img_size = self.img_size or getattr(trainer.datamodule, "img_size", 640)
        self.summary = model_summary(pl_module.model, img_size)
        log.info("model summary\n%s", format_summary(self.summary))
        flat = {"model/params": self.summary["params"], "model/gflops": self.summary["gflops"],
                "model/trainable_params": self.summary["trainable"],
                "model/frozen_params": self.summary["params"] - self.summary["trainable"]}
        for name, row in self.summary["components"].items():
            flat[f"model/{name}/params"] = row["params"]
            flat[f"model/{name}/activations"] = ", ".join(f"{k} x{v}" for k, v in row["activations"].items())
        for logger in trainer.loggers:
            logger.log_hyperparams(flat)
