"""What the format readers share: listing images, reading their size, validating boxes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from yololab.data.records import DataProblem, ImageRecord

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def image_size(path: Path, problems: list[DataProblem]) -> tuple[int, int] | None:
    """(width, height) from the image header; None, and a problem, if it is not an image."""
    try:
        with Image.open(path) as img:
            return img.size
    except (UnidentifiedImageError, OSError) as err:
        problems.append(DataProblem(str(path), f"unreadable image ({err.__class__.__name__}: {err})"))
        return None


class BoxCollector:
    """Gathers one image's boxes in pixels, recording each bad one as a problem with its line.

    A class id outside ``[0, num_classes)`` is fatal: the labels and the class list disagree.
    A box partly outside the image is clipped; one outside or of zero size is dropped.
    """

    def __init__(self, source: str, num_classes: int, width: int, height: int, problems: list[DataProblem]):
        self.source, self.num_classes = source, num_classes
        self.width, self.height = width, height
        self.problems = problems
        self.boxes: list[list[float]] = []
        self.labels: list[int] = []

    def reject(self, line: int | None, message: str, fatal: bool = True) -> None:
        self.problems.append(DataProblem(self.source, message, line, fatal))

    def add(self, line: int | None, class_id: float | int, xyxy) -> None:
        if float(class_id) != int(class_id) or not 0 <= int(class_id) < self.num_classes:
            self.reject(line, f"class id {class_id:g} out of range [0, {self.num_classes})")
            return
        x1, y1, x2, y2 = (float(v) for v in xyxy)
        if not all(np.isfinite([x1, y1, x2, y2])):
            self.reject(line, "box has non-finite coordinates")
            return
        clipped = (min(max(x1, 0.0), self.width), min(max(y1, 0.0), self.height),
                   min(max(x2, 0.0), self.width), min(max(y2, 0.0), self.height))
        if clipped[2] - clipped[0] < 1e-3 or clipped[3] - clipped[1] < 1e-3:
            where = "zero size" if x2 - x1 < 1e-3 or y2 - y1 < 1e-3 else "outside the image"
            self.reject(line, f"box ({x1:.1f}, {y1:.1f}, {x2:.1f}, {y2:.1f}) has {where}; dropped", fatal=False)
            return
        tolerance = 1.0  # a pixel of rounding is normal in hand-made labels
        if max(-x1, -y1, x2 - self.width, y2 - self.height) > tolerance:
            self.reject(line, f"box ({x1:.1f}, {y1:.1f}, {x2:.1f}, {y2:.1f}) extends past the "
                        f"{self.width}x{self.height} image; clipped", fatal=False)
        self.boxes.append(list(clipped))
        self.labels.append(int(class_id))

    def record(self, image_path: str) -> ImageRecord:
        return ImageRecord(
            image_path, self.width, self.height,
            np.asarray(self.boxes, np.float32).reshape(-1, 4), np.asarray(self.labels, np.int64),
        )
