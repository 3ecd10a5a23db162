"""Evaluation of a checkpoint: the model comes from the checkpoint, the dataset from the command line."""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf, open_dict

from yololab.module import YOLODetectorModule
from yololab.utils.instantiate import instantiate_group
from yololab.utils.run_files import metrics_line, trainer_metrics, write_run_files

log = logging.getLogger(__name__)


def data_config(cfg: DictConfig, model: YOLODetectorModule) -> DictConfig:
    """``cfg.data``, whose image size and channels default to the model's. Nothing else is taken from the
    checkpoint: its stored data settings could name any folder to write a dataset or a cache into."""
    if OmegaConf.is_missing(cfg.data, "root"):
        raise ValueError("data.root is required: the dataset to evaluate on (data.root=<folder>, or data=neu_det); "
                         "a checkpoint's stored data settings are never used")
    data = OmegaConf.create(OmegaConf.to_container(cfg.data, resolve=True))
    with open_dict(data):
        if data.img_size is None:
            data.img_size = model.config["data"]["img_size"]
        if data.channels is None:
            data.channels = model.model.in_channels
        if cfg.split != "val":  # any other split is evaluated as the test split
            data.test_split = cfg.split
    return data


def check_classes(model: list[str], dataset: list[str], root: str) -> None:
    """Stop unless the dataset has the checkpoint's classes in the checkpoint's order: scores on other class ids
    would be reported as if they were the model's."""
    if list(model) == list(dataset):
        return
    if sorted(model) == sorted(dataset):
        why = "the same classes in another order"
    else:
        extra, lacking = [n for n in dataset if n not in model], [n for n in model if n not in dataset]
        why = f"{len(dataset)} classes against {len(model)}" + (f"; not in the checkpoint: {extra}" if extra else "") \
            + (f"; not in the dataset: {lacking}" if lacking else "")
    raise ValueError(f"data.root={root}: its classes {list(dataset)} are not the checkpoint's {list(model)} ({why}); "
                     "evaluate on the dataset the model was trained for")


def run(cfg: DictConfig) -> dict[str, float]:
    """Metrics of ``cfg.ckpt_path`` on ``cfg.split`` of the dataset ``cfg.data`` names."""
    if not cfg.get("ckpt_path"):
        raise ValueError("ckpt_path is required: python scripts/eval.py ckpt_path=path/to/file.ckpt data.root=<folder>")
    model = YOLODetectorModule.from_checkpoint(cfg.ckpt_path)
    data_cfg = data_config(cfg, model)
    datamodule = hydra.utils.instantiate(data_cfg)
    check_classes(model.class_names, datamodule.class_names, data_cfg.root)
    trainer = hydra.utils.instantiate(cfg.trainer, logger=instantiate_group(cfg.get("logger")) or False,
                                      callbacks=instantiate_group(cfg.get("callbacks")))
    runner = trainer.validate if cfg.split == "val" else trainer.test
    runner(model, datamodule=datamodule)
    metrics = trainer_metrics(trainer)
    if trainer.is_global_zero:
        write_run_files(Path(cfg.paths.output_dir), OmegaConf.to_container(cfg, resolve=True), metrics)
        log.info("%s on %s: %s", cfg.ckpt_path, cfg.split, metrics_line(metrics))
    return metrics
