"""The LightningDataModule for defect datasets in any supported format."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path

import lightning as L

from yololab.data.dataset import DetectionDataset, collate
from yololab.data.formats import open_dataset
from yololab.data.records import DataError, DataProblem, ImageRecord
from yololab.data.sampler import ReproducibleSampler, ResumableDataLoader
from yololab.data.synthetic import SyntheticDefects
from yololab.data.transforms import build_pipeline

log = logging.getLogger(__name__)


class DefectDataModule(L.LightningDataModule):
    """Loads ``root`` (format named or detected), validates it, and serves letterboxed batches.

    ``batch_size`` is per device. With ``synthetic`` set, the synthetic set is written to ``root``
    on first use.
    """

    def __init__(
        self,
        root: str,
        format: str = "auto",
        img_size: int = 640,
        batch_size: int = 16,
        num_workers: int = 2,
        pin_memory: bool = False,
        persistent_workers: bool = True,
        augment: Mapping | None = None,
        train_split: str = "train",
        val_split: str = "val",
        test_split: str | None = None,
        seed: int = 0,
        synthetic: SyntheticDefects | None = None,
    ) -> None:
        super().__init__()
        if img_size % 32:
            raise ValueError(f"data.img_size must be a multiple of 32, got {img_size}")
        self.root = Path(root)
        self.format, self.img_size, self.batch_size = format, img_size, batch_size
        self.num_workers, self.pin_memory = num_workers, pin_memory
        self.persistent_workers = persistent_workers and num_workers > 0
        self.augment = augment
        self.split_names = {"train": train_split, "val": val_split, "test": test_split}
        self.seed = seed
        self.synthetic = synthetic
        self.datasets: dict[str, DetectionDataset] = {}

    @cached_property
    def reader(self):
        if self.synthetic is not None:
            self.synthetic.write(self.root)
        return open_dataset(self.root, self.format)

    @property
    def class_names(self) -> list[str]:
        if self.synthetic is not None and not self.synthetic.is_written(self.root):
            return list(self.synthetic.class_names)
        return list(self.reader.class_names)

    def prepare_data(self) -> None:
        if self.synthetic is not None:
            self.synthetic.write(self.root)

    def load_split(self, stage: str) -> list[ImageRecord]:
        """Records of one split; stops with every fatal problem listed, warns once about the rest."""
        split = self.split_names[stage]
        records, problems = self.reader.load(split)
        if not records:
            problems.append(DataProblem(str(self.reader.image_dir(split)), f"the '{split}' split has no images",
                                        fatal=True))
        fatal = [p for p in problems if p.fatal]
        if fatal:
            raise DataError(fatal)
        if problems:
            shown = "\n  ".join(str(p) for p in problems[:10])
            log.warning("%s split '%s': %d problem(s) handled (skipped or clipped):\n  %s",
                        self.root, split, len(problems), shown)
        return records

    def setup(self, stage: str | None = None) -> None:
        wanted = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",), "predict": ("val",)}
        for key in wanted.get(stage, ("train", "val")):
            if key in self.datasets or self.split_names[key] is None:
                continue
            augment = self.augment if key == "train" else None
            pipeline = build_pipeline(self.img_size, augment)
            self.datasets[key] = DetectionDataset(self.load_split(key), pipeline, self.img_size, self.seed)

    def _loader(self, key: str, shuffle: bool) -> ResumableDataLoader:
        if key not in self.datasets:
            raise DataError(f"no '{key}' split is configured for {self.root} (data.{key}_split)")
        dataset = self.datasets[key]
        return ResumableDataLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=ReproducibleSampler(len(dataset), shuffle, self.seed, pad_to_equal=shuffle),
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.persistent_workers,
            collate_fn=collate,
            drop_last=False,
        )

    def train_dataloader(self) -> ResumableDataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> ResumableDataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> ResumableDataLoader:
        return self._loader("test", shuffle=False)

    def predict_dataloader(self) -> ResumableDataLoader:
        return self._loader("val", shuffle=False)
