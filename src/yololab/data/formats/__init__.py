"""Dataset formats: each reader lists class names and splits, and loads a split as image records.

A reader has ``name``, ``root``, ``class_names``, ``splits()``, ``image_dir(split)``,
``load(split) -> (records, problems)``, a static ``detect(root)`` and, for the "no known format" message,
``expects`` (what it looks for in a folder). It is built as ``reader(root, keep_difficult=...)``.

A fork adds a format with :func:`register_format` in a module its commands import (``imports=[myfork.csv]``,
:mod:`yololab.utils.imports`); ``data.format=<name>`` then selects it, ``auto`` detects it after the built-in
ones, and every message listing the formats lists it.
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
READER_API = ("splits", "image_dir", "load", "detect")


def register_format(name: str, reader: type | None = None):
    """Make ``reader`` (a class with the reader API above) the format ``name``: ``data.format=name``, detected by
    ``auto`` after the formats before it. Without ``reader``, a class decorator: ``@register_format("csv")``."""
    if reader is None:
        return lambda cls: register_format(name, cls)
    where = f"register_format({name!r})"
    if not (isinstance(name, str) and name.isidentifier() and name == name.lower()) or name == "auto":
        raise ValueError(f"{where}: a format name is a lowercase identifier other than 'auto', such as 'csv'")
    if FORMATS.get(name, reader) is not reader:
        raise ValueError(f"{where}: '{name}' is already {FORMATS[name].__qualname__}; pick another name")
    lacking = [attr for attr in READER_API if not callable(getattr(reader, attr, None))]
    if lacking:
        raise ValueError(f"{where}: {reader!r} lacks {', '.join(lacking)} (see yololab.data.formats)")
    FORMATS[name] = reader
    return reader


def valid_formats() -> str:
    """The values ``data.format`` takes, for messages."""
    return ", ".join(["auto", *FORMATS])


def detect_format(root: Path) -> str:
    found = [name for name, reader in FORMATS.items() if reader.detect(root)]
    if not found:
        expected = ", ".join(f"{getattr(reader, 'expects', 'its files')} ({name})" for name, reader in FORMATS.items())
        raise config_error(root, f"no known dataset format found: expected {expected}")
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
        raise config_error("data.format", f"unknown data.format {format!r}; valid: {valid_formats()}")
    reader = FORMATS[format](root, keep_difficult=keep_difficult)
    if len(reader.splits()) == 1:
        return StratifiedSplit(reader, val_fraction, split_seed)
    return reader
