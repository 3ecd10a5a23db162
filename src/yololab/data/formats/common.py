"""What the format readers share: listing images, reading their size, validating boxes."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np

from yololab.data.images import IMAGE_SUFFIXES, image_size, list_images
from yololab.data.records import ANNOTATION, BOX, LABEL, DataProblem, ImageRecord


def background(path: str | Path, reason: str) -> DataProblem:
    """A warning for an image without labels (missing or empty label file), which trains as background."""
    return DataProblem(str(path), f"{reason}; image used as background", kind=LABEL)


REGULAR = "a regular file"
_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def file_kind(path: str | Path) -> str | None:
    """What ``path`` is (following links): None when nothing is there, :data:`REGULAR`, or e.g. "a FIFO (named
    pipe)". Asked before opening a file: reading a FIFO would block until someone writes to it."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode):
        return REGULAR
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def find_child(root: Path, *names: str) -> Path | None:
    """The first sub-folder of ``root`` named one of ``names``, compared case-insensitively (VOC's
    ``Annotations`` is ``ANNOTATIONS`` in NEU-DET's release)."""
    if not root.is_dir():
        return None
    children = {p.name.casefold(): p for p in sorted(root.iterdir()) if p.is_dir()}
    return next((children[n.casefold()] for n in names if n.casefold() in children), None)


class BoxCollector:
    """Gathers one image's boxes in pixels, recording each bad one as a problem with its line.

    A class id that is not an integer or lies outside ``[0, num_classes)`` is fatal (the labels and the
    class list disagree), and so is a box of negative width or height (corners swapped or a sign lost).
    A box partly outside the image is clipped; one outside or of zero size is dropped.
    """

    def __init__(self, source: str, num_classes: int, width: int, height: int, problems: list[DataProblem]):
        self.source, self.num_classes = source, num_classes
        self.width, self.height = width, height
        self.problems = problems
        self.boxes: list[list[float]] = []
        self.labels: list[int] = []
        self.ignored: list[tuple[int, list[float]]] = []
        self.entries = 0  # every box the file names, kept or not: a file with none is "empty"

    def reject(self, line: int | None, message: str, fatal: bool = True, kind: str = ANNOTATION) -> None:
        self.entries += 1
        self.problems.append(DataProblem(self.source, message, line, fatal, kind))

    def ignore(self, class_id: int, xyxy) -> None:
        """A box the format marks to be ignored (VOC ``difficult``, COCO ``iscrowd``): not a training target;
        kept (clipped to the image) as an ignore region for evaluation."""
        self.entries += 1
        box = self._clip(xyxy)
        if box is not None:
            self.ignored.append((int(class_id), list(box)))

    def _clip(self, xyxy) -> tuple[float, float, float, float] | None:
        """The box clipped to the image, or None when nothing of it is left."""
        x1, y1, x2, y2 = (float(v) for v in xyxy)
        clipped = (min(max(x1, 0.0), self.width), min(max(y1, 0.0), self.height),
                   min(max(x2, 0.0), self.width), min(max(y2, 0.0), self.height))
        if not all(np.isfinite(clipped)) or clipped[2] - clipped[0] < 1e-3 or clipped[3] - clipped[1] < 1e-3:
            return None
        return clipped

    def add(self, line: int | None, class_id: float | int, xyxy, where: str = "") -> None:
        """``where`` prefixes the messages when the line alone does not say which box (JSON)."""
        if not np.isfinite(float(class_id)) or float(class_id) != int(class_id):
            self.reject(line, f"{where}class id {class_id:g} is not an integer")
            return
        if not 0 <= int(class_id) < self.num_classes:
            self.reject(line, f"{where}class id {class_id:g} out of range [0, {self.num_classes})")
            return
        x1, y1, x2, y2 = (float(v) for v in xyxy)
        if not all(np.isfinite([x1, y1, x2, y2])):
            self.reject(line, f"{where}box has non-finite coordinates")
            return
        negative = [name for name, size in (("width", x2 - x1), ("height", y2 - y1)) if size < 0]
        if negative:
            self.reject(line, f"{where}box ({x1:.1f}, {y1:.1f}, {x2:.1f}, {y2:.1f}) has a negative "
                        f"{' and '.join(negative)}")
            return
        clipped = self._clip((x1, y1, x2, y2))
        if clipped is None:
            why = "has zero size" if x2 - x1 < 1e-3 or y2 - y1 < 1e-3 else "is outside the image"
            self.reject(line, f"{where}box ({x1:.1f}, {y1:.1f}, {x2:.1f}, {y2:.1f}) {why}; dropped", False, BOX)
            return
        self.entries += 1
        tolerance = 1.0  # a pixel of rounding is normal in hand-made labels
        if max(-x1, -y1, x2 - self.width, y2 - self.height) > tolerance:
            self.problems.append(DataProblem(
                self.source, f"{where}box ({x1:.1f}, {y1:.1f}, {x2:.1f}, {y2:.1f}) extends past the "
                f"{self.width}x{self.height} image; clipped", line, False, BOX))
        self.boxes.append(list(clipped))
        self.labels.append(int(class_id))

    def record(self, image_path: str, empty: str | None = None) -> ImageRecord:
        """The image's record; with ``empty`` (the reason), a file that named no box is reported."""
        if empty and not self.entries:
            self.problems.append(background(self.source, empty))
        return ImageRecord(
            image_path, self.width, self.height,
            np.asarray(self.boxes, np.float32).reshape(-1, 4), np.asarray(self.labels, np.int64),
            np.asarray([box for _, box in self.ignored], np.float32).reshape(-1, 4),
            np.asarray([cls for cls, _ in self.ignored], np.int64),
        )


__all__ = ["IMAGE_SUFFIXES", "REGULAR", "BoxCollector", "background", "file_kind", "find_child", "image_size",
           "list_images"]
