"""The LightningDataModule for defect datasets in any supported format."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property, partial
from pathlib import Path

import lightning as L
import torch

from yololab.data.check import ScanResult, depth_summary, scan, summary
from yololab.data.dataset import DetectionDataset, collate
from yololab.data.formats import open_dataset
from yololab.data.image_cache import ImageCache
from yololab.data.mixing import split_mixing
from yololab.data.records import DataError, ImageRecord
from yololab.data.sampler import ReproducibleSampler, ResumableDataLoader, lower_priority
from yololab.data.synthetic import SyntheticDefects
from yololab.data.transforms import build_pipeline
from yololab.utils.settings import check

log = logging.getLogger(__name__)

STAGE_SPLITS = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",)}


@dataclass(frozen=True)
class LoaderSettings:
    """How the loaders serve batches (``data.loader``); a resume may change them (``checkpoints.RESUME_KEYS``).

    ``num_workers`` loader processes (0: load in the main process), kept across epochs with
    ``persistent_workers``; ``pin_memory`` page-locks batches for faster copies to a GPU (ignored without one);
    the workers run ``worker_nice`` nicer than training (0: the same priority).
    """

    num_workers: int = 2
    pin_memory: bool = False
    persistent_workers: bool = True
    worker_nice: int = 0

    def __post_init__(self) -> None:
        check("data.loader.num_workers", self.num_workers)  # as every command does first (utils/settings.py)
        check("data.loader.worker_nice", self.worker_nice)


@dataclass(frozen=True)
class CacheSettings:
    """What the data module keeps (``data.cache``); a resume may change them (``checkpoints.RESUME_KEYS``).

    ``ram=True`` keeps the images the data check decodes in memory (an :class:`ImageCache` the datasets share,
    filled before loader workers fork). ``check_dir`` is a folder keeping the data check's verdicts between runs
    (None: this process only); it holds no images.
    """

    ram: bool = False
    check_dir: str | None = None

    def __post_init__(self) -> None:
        check("data.cache.ram", self.ram)


class DefectDataModule(L.LightningDataModule):
    """Loads ``root`` (format named or detected), checks it, and serves letterboxed batches.

    ``batch_size`` is per device; how the loaders run is ``loader`` (:class:`LoaderSettings`). With ``synthetic``
    set, the synthetic set is written to ``root`` on first use. A dataset released as one set is split into
    train/val by class (``val_fraction``, ``split_seed``; the split seed is not the training seed, so a multi-seed
    study keeps one validation set). ``setup`` scans the splits it needs (``data/check.py``): fatal
    problems stop there, listed together; corrupt images are skipped with one summary warning. ``cache``
    (:class:`CacheSettings`) keeps the decoded images in memory and the check's verdicts in a folder.
    ``channels=1`` serves grey 1xHxW images. Mosaic and mixup (entries of ``augment``) stop for the
    last ``close_mosaic`` epochs of the trainer's ``max_epochs``.
    """

    def __init__(
        self,
        root: str,
        format: str = "auto",
        img_size: int = 640,
        batch_size: int = 16,
        loader: LoaderSettings | None = None,
        augment: Mapping | None = None,
        train_split: str = "train",
        val_split: str = "val",
        test_split: str | None = None,
        seed: int = 0,
        synthetic: SyntheticDefects | None = None,
        channels: int = 3,
        cache: CacheSettings | None = None,
        close_mosaic: int = 10,
        val_fraction: float = 0.2,
        split_seed: int = 0,
        keep_difficult: bool = False,
    ) -> None:
        super().__init__()
        for key, value in (("img_size", img_size), ("batch_size", batch_size), ("close_mosaic", close_mosaic)):
            check(f"data.{key}", value)  # as every command does first (utils/settings.py)
        self.root = Path(root)
        self.format, self.img_size, self.batch_size = format, img_size, batch_size
        self.loader = loader if loader is not None else LoaderSettings()
        self.cache = cache if cache is not None else CacheSettings()
        self.augment = augment
        self.split_names = {"train": train_split, "val": val_split, "test": test_split}
        self.seed = seed
        self.synthetic = synthetic
        self.channels, self.close_mosaic = channels, close_mosaic
        self.val_fraction, self.split_seed, self.keep_difficult = val_fraction, split_seed, keep_difficult
        self.datasets: dict[str, DetectionDataset] = {}

    @cached_property
    def reader(self):
        if self.synthetic is not None:
            self.synthetic.write(self.root)
        return open_dataset(self.root, self.format, self.keep_difficult, self.val_fraction, self.split_seed)

    @property
    def class_names(self) -> list[str]:
        if self.synthetic is not None and not self.synthetic.is_written(self.root):
            return list(self.synthetic.class_names)
        return list(self.reader.class_names)

    def prepare_data(self) -> None:
        if self.synthetic is not None:
            self.synthetic.write(self.root)

    def check(self, keys: list[str], cache: ImageCache | None = None) -> ScanResult:
        """Scan the splits of ``keys``, their images into ``cache`` when given; stop with every fatal problem
        listed, warn once about the rest."""
        result = scan(self.reader, {k: self.split_names[k] for k in keys}, self.cache.check_dir,
                      cache.add if cache is not None else None)
        if result.fatal:
            raise DataError(result.fatal)
        if result.problems:
            log.warning("%s: %s", self.root, summary(result.problems))
        for key, records in result.records.items():
            ignored = sum(len(r.ignored_labels) for r in records)
            if ignored:
                log.info("%s: %d difficult/crowd box(es) are no training target and an ignore region in "
                         "evaluation (data.keep_difficult=true makes them ordinary boxes)", key, ignored)
        if set(result.depths) - {"8-bit"}:
            log.info("%s: bit depths: %s", self.root, depth_summary(result.depths))
        if cache is not None:
            total = sum(len(records) for records in result.records.values())
            log.info("RAM cache: %d of %d decoded images, %.0f MiB (at most half of the available memory)",
                     len(cache), total, cache.nbytes / 2**20)
        return result

    def mix_epochs(self) -> int | None:
        """Epochs with mosaic and mixup: all but the last ``close_mosaic`` (all when there is no epoch limit)."""
        max_epochs = getattr(self.trainer, "max_epochs", None) if self.trainer is not None else None
        if max_epochs is None or max_epochs < 0:
            return None
        return max(max_epochs - self.close_mosaic, 0)

    def setup(self, stage: str | None = None) -> None:
        keys = [k for k in STAGE_SPLITS.get(stage, ("train", "val"))
                if k not in self.datasets and self.split_names[k] is not None]
        if not keys:
            return
        cache = ImageCache() if self.cache.ram else None
        result = self.check(keys, cache)
        for key in keys:
            self.datasets[key] = self.build_dataset(key, result.records[key], cache)

    def build_dataset(self, key: str, records: list[ImageRecord], cache: ImageCache | None) -> DetectionDataset:
        if key != "train":
            return DetectionDataset(records, build_pipeline(self.img_size, None, self.channels), self.img_size,
                                    self.seed, cache=cache)
        mosaic, mixup, transforms = split_mixing(self.augment)
        pipeline = build_pipeline(self.img_size, transforms, self.channels)
        return DetectionDataset(records, pipeline, self.img_size, self.seed, mosaic, mixup, self.mix_epochs(),
                                cache)

    def records(self) -> dict[str, list[ImageRecord]]:
        """The records of every split set up so far (for statistics)."""
        return {key: dataset.records for key, dataset in self.datasets.items()}

    def _loader(self, key: str, shuffle: bool) -> ResumableDataLoader:
        if key not in self.datasets:
            raise DataError(f"no '{key}' split is configured for {self.root} (data.{key}_split)")
        dataset, loader = self.datasets[key], self.loader
        return ResumableDataLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=ReproducibleSampler(len(dataset), shuffle, self.seed, pad_to_equal=shuffle),
            num_workers=loader.num_workers,
            pin_memory=loader.pin_memory and torch.cuda.is_available(),  # pinning helps host-to-GPU copies only
            persistent_workers=loader.persistent_workers and loader.num_workers > 0,
            collate_fn=collate,
            drop_last=False,
            worker_init_fn=partial(lower_priority, loader.worker_nice) if loader.worker_nice else None,
        )

    def train_dataloader(self) -> ResumableDataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> ResumableDataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> ResumableDataLoader:
        return self._loader("test", shuffle=False)
