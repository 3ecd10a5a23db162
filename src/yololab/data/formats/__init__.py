"""Dataset formats: each reader lists class names and splits, and loads a split as image records.

A reader has ``name``, ``root``, ``class_names``, ``splits()``, ``image_dir(split)``,
``load(split) -> (records, problems)`` and a static ``detect(root)``.
"""

from __future__ import annotations

from pathlib import Path

from yololab.data.formats.coco import COCOFormat
from yololab.data.formats.voc import VOCFormat
from yololab.data.formats.yolo import YOLOFormat
from yololab.data.records import config_error
from yololab.data.splits import StratifiedSplit

# detection tries them in this order
FORMATS = {"yolo": YOLOFormat, "coco": COCOFormat, "voc": VOCFormat}


def detect_format(root: Path) -> str:
    found = [name for name, reader in FORMATS.items() if reader.detect(root)]
    if not found:
        raise config_error(root, f"no known dataset format found ({', '.join(FORMATS)}): expected data.yaml, "
                           "annotations/*.json or an annotations folder of .xml files")
    return found[0]


def open_dataset(root: str | Path, format: str = "auto", keep_difficult: bool = False,
                 val_fraction: float = 0.2, split_seed: int = 0):
    """The reader for ``root``; ``format='auto'`` detects it from the folder's contents.

    A dataset with a single set is split into ``train`` and ``val`` (:class:`StratifiedSplit`).
    """
    root = Path(root)
    if not root.exists():
        raise config_error(root, "dataset path does not exist (set data.root)")
    if format == "auto":
        format = detect_format(root)
    if format not in FORMATS:
        raise config_error("data.format", f"unknown data.format {format!r}; valid: auto, {', '.join(FORMATS)}")
    reader = FORMATS[format](root, keep_difficult=keep_difficult)
    if len(reader.splits()) == 1:
        return StratifiedSplit(reader, val_fraction, split_seed)
    return reader
