"""Dataset formats: each reader lists class names and splits, and loads a split as image records."""

from __future__ import annotations

from pathlib import Path

from yololab.data.formats.yolo import YOLOFormat
from yololab.data.records import DataError, DataProblem

FORMATS = {"yolo": YOLOFormat}


def open_dataset(root: str | Path, format: str = "auto"):
    """The reader for ``root``; ``format='auto'`` detects it from the folder's contents."""
    root = Path(root)
    if not root.exists():
        raise DataError([DataProblem(str(root), "dataset path does not exist (set data.root)", fatal=True)])
    if format == "auto":
        found = [name for name, reader in FORMATS.items() if reader.detect(root)]
        if not found:
            raise DataError([DataProblem(str(root), f"no known dataset format found ({', '.join(FORMATS)})",
                                         fatal=True)])
        format = found[0]
    if format not in FORMATS:
        raise DataError(f"unknown data.format {format!r}; valid: auto, {', '.join(FORMATS)}")
    return FORMATS[format](root)
