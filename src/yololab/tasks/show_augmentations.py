"""What ``scripts/show_augmentations.py`` runs: a PNG grid of training samples as the model sees them
(configured augmentation, mosaic and mixup included, letterboxed) with their boxes drawn."""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig
from torchvision.io import write_png
from torchvision.utils import draw_bounding_boxes, make_grid

from yololab.data.dataset import DetectionDataset
from yololab.data.sampler import ReproducibleSampler

log = logging.getLogger(__name__)


def draw(sample: dict, class_names: list[str]) -> torch.Tensor:
    """The sample's image (3xHxW uint8) with its boxes and class names drawn."""
    names = [class_names[int(c)] for c in sample["labels"]]
    return draw_bounding_boxes(sample["image"], sample["boxes"], labels=names, colors="red", width=1)


def sample_grid(dataset: DetectionDataset, class_names: list[str], count: int, cols: int, epoch: int,
                seed: int) -> torch.Tensor:
    """The first ``count`` samples of the training order of ``epoch``, as one 3xHxW uint8 grid."""
    sampler = ReproducibleSampler(len(dataset), shuffle=True, seed=seed, pad_to_equal=False)
    sampler.set_epoch(epoch)
    keys = list(sampler)[:count]
    return make_grid([draw(dataset[key], class_names) for key in keys], nrow=cols, padding=4, pad_value=255)


def run(cfg: DictConfig) -> Path:
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.setup("fit")
    grid = sample_grid(datamodule.datasets["train"], datamodule.class_names, cfg.rows * cfg.cols, cfg.cols,
                       cfg.epoch, cfg.seed)
    out = Path(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_png(grid, str(out))
    log.info("wrote %d augmented samples to %s", cfg.rows * cfg.cols, out)
    return out
