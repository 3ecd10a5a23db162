"""What ``scripts/benchmark_loader.py`` runs: images/s of the training loader for several settings.

Each setting builds a fresh data module, takes one batch (worker start-up, excluded), then times
``batches`` batches. Printed as a table; never a timed test.
"""

from __future__ import annotations

import itertools
import logging
import time

import hydra
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


def images_per_second(data_cfg: DictConfig, batches: int) -> float:
    datamodule = hydra.utils.instantiate(data_cfg)
    datamodule.setup("fit")
    loader = iter(datamodule.train_dataloader())
    next(loader)
    count, start = 0, time.perf_counter()
    for batch in itertools.islice(loader, batches):
        count += batch["images"].shape[0]
    return count / (time.perf_counter() - start)


def run(cfg: DictConfig) -> list[dict]:
    rows = []
    print(f"{cfg.data.root}: {cfg.batches} batches of {cfg.data.batch_size} at {cfg.data.img_size} px per setting")
    print(f"{'workers':>8} {'cache':>6} {'mosaic':>7} {'images/s':>9}")
    for workers, ram_cache, mosaic in itertools.product(cfg.workers, cfg.ram_cache, cfg.mosaic):
        data_cfg = OmegaConf.create(OmegaConf.to_container(cfg.data, resolve=True))
        data_cfg.loader.num_workers, data_cfg.loader.persistent_workers = workers, False
        data_cfg.cache.ram = ram_cache
        if not mosaic and "mosaic" in (data_cfg.augment or {}):
            data_cfg.augment.mosaic.p = 0.0
        speed = images_per_second(data_cfg, cfg.batches)
        rows.append({"workers": workers, "ram_cache": ram_cache, "mosaic": mosaic, "images_per_s": speed})
        print(f"{workers:>8} {'ram' if ram_cache else '-':>6} {'on' if mosaic else 'off':>7} {speed:>9.0f}", flush=True)
    return rows
