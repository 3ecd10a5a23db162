"""What every dataset format produces: image records with pixel boxes, and the problems found."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# What a problem is about; the data module's one summary warning counts problems by kind.
IMAGE = "image"  # unreadable, truncated or missing image: the image is skipped
LABEL = "label"  # a missing or empty label file: the image is used as background
BOX = "box"  # a box dropped (zero size, outside the image) or clipped to the image
DUPLICATE = "duplicate"  # an image with the same bytes as another one: both are kept
ANNOTATION = "annotation"  # malformed label content or a class outside the class list: fatal
CONFIG = "config"  # a missing path, an undefined or empty split: fatal

KIND_SUMMARY = {
    IMAGE: "unreadable image(s) skipped",
    LABEL: "image(s) without labels used as background",
    BOX: "box(es) dropped or clipped",
    DUPLICATE: "duplicate image(s)",
    ANNOTATION: "annotation error(s)",
    CONFIG: "configuration error(s)",
}


@dataclass
class ImageRecord:
    """One image and its boxes: xyxy float32 pixels [N, 4], contiguous class ids int64 [N].

    ``ignored_boxes`` / ``ignored_labels`` are the boxes the format marks to be ignored (VOC ``difficult``,
    COCO ``iscrowd``) when they are not kept: no training target, an ignore region in evaluation."""

    path: str
    width: int
    height: int
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    labels: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int64))
    ignored_boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    ignored_labels: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int64))


@dataclass(frozen=True)
class DataProblem:
    """A problem with one file; ``fatal`` problems stop training, the others drop the sample or box."""

    path: str
    message: str
    line: int | None = None
    fatal: bool = False
    kind: str = ANNOTATION

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.message}"


class DataError(ValueError):
    """Bad data or data configuration; the message lists every problem with its file and line."""

    def __init__(self, problems: list[DataProblem] | str) -> None:
        if isinstance(problems, str):
            problems = [DataProblem("<config>", problems, fatal=True, kind=CONFIG)]
        self.problems = problems
        shown = "\n  ".join(str(p) for p in problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(f"{len(problems)} data problem(s):\n  {shown}{more}")


def config_error(path, message: str) -> DataError:
    """A fatal configuration problem (missing path, undefined split) as an exception."""
    return DataError([DataProblem(str(path), message, fatal=True, kind=CONFIG)])
