"""What every dataset format produces: image records with pixel boxes, and the problems found."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class ImageRecord:
    """One image and its boxes: xyxy float32 pixels [N, 4], contiguous class ids int64 [N]."""

    path: str
    width: int
    height: int
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    labels: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int64))


@dataclass(frozen=True)
class DataProblem:
    """A problem with one file; ``fatal`` problems stop training, the others drop the sample or box."""

    path: str
    message: str
    line: int | None = None
    fatal: bool = False

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.message}"


class DataError(ValueError):
    """Bad data or data configuration; the message lists every problem with its file and line."""

    def __init__(self, problems: list[DataProblem] | str) -> None:
        if isinstance(problems, str):
            problems = [DataProblem("<config>", problems, fatal=True)]
        self.problems = problems
        shown = "\n  ".join(str(p) for p in problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(f"{len(problems)} data problem(s):\n  {shown}{more}")
