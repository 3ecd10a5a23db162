"""A deterministic, class-stratified train/val split for datasets released as a single set."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from yololab.data.records import DataProblem, ImageRecord, config_error


def stratum(record: ImageRecord, counts: Counter) -> int:
    """The image's rarest class (-1 for background): stratifying on it keeps rare classes in both splits."""
    if not len(record.labels):
        return -1
    return min((counts[c], c) for c in record.labels.tolist())[1]


def stratified_split(records: list[ImageRecord], val_fraction: float, seed: int) -> tuple[list, list]:
    """(train, val): ``round(n * val_fraction)`` images of each stratum go to val, drawn with ``seed``.

    The result depends on the records (in their order) and the seed alone; both lists keep that order.
    """
    if not 0.0 < val_fraction < 1.0:
        raise config_error("data.val_fraction", f"must be in (0, 1), got {val_fraction}")
    counts = Counter(c for r in records for c in r.labels.tolist())
    groups: dict[int, list[int]] = defaultdict(list)
    for i, record in enumerate(records):
        groups[stratum(record, counts)].append(i)
    rng = np.random.default_rng(seed)
    val: set[int] = set()
    for key in sorted(groups):
        members = groups[key]
        take = round(len(members) * val_fraction)
        val.update(members[j] for j in rng.permutation(len(members))[:take].tolist())
    return [r for i, r in enumerate(records) if i not in val], [r for i, r in enumerate(records) if i in val]


class StratifiedSplit:
    """A reader of a single-set dataset seen as ``train`` and ``val`` (the reader interface).

    Problems of the whole set are reported with ``train``, so they are not counted twice.
    """

    def __init__(self, reader, val_fraction: float = 0.2, seed: int = 0) -> None:
        self.reader, self.val_fraction, self.seed = reader, val_fraction, seed
        (self.source,) = reader.splits()
        self.name, self.root, self.class_names = reader.name, reader.root, reader.class_names
        self._loaded: dict[str, tuple[list[ImageRecord], list[DataProblem]]] | None = None

    def splits(self) -> list[str]:
        return ["train", "val"]

    def image_dir(self, split: str) -> Path:
        if split not in self.splits():
            raise config_error(self.root, f"no '{split}' split: the dataset is a single set, split into train "
                               f"and val (data.val_fraction={self.val_fraction})")
        return self.reader.image_dir(self.source)

    def load(self, split: str) -> tuple[list[ImageRecord], list[DataProblem]]:
        self.image_dir(split)
        if self._loaded is None:
            records, problems = self.reader.load(self.source)
            train, val = stratified_split(records, self.val_fraction, self.seed)
            self._loaded = {"train": (train, problems), "val": (val, [])}
        return self._loaded[split]
