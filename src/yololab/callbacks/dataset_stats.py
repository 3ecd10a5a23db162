"""Logs the dataset's statistics once, when fitting starts: a table in the log, and W&B tables and plots."""

from __future__ import annotations

import logging

import lightning as L
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_only

from yololab.data.stats import box_sizes, dataset_stats, format_stats

log = logging.getLogger(__name__)


class DatasetStats(L.Callback):
    """Instances per class and box sizes per split, from ``trainer.datamodule.records()``."""

    def __init__(self) -> None:
        self.stats: dict | None = None

    @rank_zero_only
    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        datamodule = trainer.datamodule
        if datamodule is None or not hasattr(datamodule, "records"):
            return
        records, names = datamodule.records(), datamodule.class_names
        self.stats = dataset_stats(records, names)
        log.info("dataset statistics (%s)\n%s", datamodule.root, format_stats(self.stats))
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                log_to_wandb(logger, self.stats, records)


def log_to_wandb(logger: WandbLogger, stats: dict, records: dict) -> None:
    """A table of instances per split and class with a bar chart, and a histogram of box sizes."""
    import wandb

    rows = [[split, name, count] for split, s in stats.items() for name, count in s["instances"].items()]
    instances = wandb.Table(columns=["split", "class", "instances"], data=rows)
    train = wandb.Table(columns=["class", "instances"],
                        data=[[name, n] for name, n in stats.get("train", {}).get("instances", {}).items()])
    payload = {
        "data/instances": instances,
        "data/instances_train": wandb.plot.bar(train, "class", "instances", title="train instances per class"),
    }
    for split, recs in records.items():
        payload[f"data/{split}_box_sqrt_area_px"] = wandb.Histogram(box_sizes(recs)[:, 2])
    logger.experiment.log(payload)
