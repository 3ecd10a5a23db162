"""Images for inference: the files an input names, reading them, and letterboxing them into a batch.

A batch is letterboxed exactly as validation batches are (``data.transforms.build_pipeline``), so a
checkpoint sees the same input at inference as at validation, and boxes map back to the original
image by dividing by ``batch["scales"]``.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

import cv2
import numpy as np
import torch

from yololab.data.dataset import read_image
from yololab.data.formats.common import IMAGE_SUFFIXES, list_images
from yololab.data.records import DataError, DataProblem
from yololab.data.transforms import build_pipeline, letterbox_scale


def gather_inputs(spec: str | Path) -> list[Path]:
    """The image files ``spec`` names: one file (taken as is), a folder (searched recursively) or a glob
    pattern (``**`` recurses); folders and patterns keep the files with an image suffix."""
    path = Path(spec).expanduser()
    if path.is_file():
        return [path]
    if path.is_dir():
        files = list_images(path)
        if not files:
            raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in folder {path}")
        return files
    if any(ch in str(path) for ch in "*?["):
        files = sorted(Path(p) for p in glob.glob(str(path), recursive=True)
                       if Path(p).suffix.lower() in IMAGE_SUFFIXES and Path(p).is_file())
        if not files:
            raise FileNotFoundError(f"no images match the pattern {spec}")
        return files
    raise FileNotFoundError(f"input not found: {spec} (give an image, a folder or a glob pattern)")


def common_root(paths: list[Path]) -> Path:
    """The deepest folder holding every path: outputs keep the inputs' layout below it."""
    return Path(os.path.commonpath([p.resolve().parent for p in paths]))


def read_images(paths: list[Path]) -> tuple[list[tuple[Path, np.ndarray]], list[DataProblem]]:
    """(path, RGB uint8 image) for each readable file, and a problem naming each unreadable one."""
    loaded, problems = [], []
    for path in paths:
        try:
            loaded.append((path, read_image(str(path))))
        except DataError as err:
            problems.extend(err.problems)
    return loaded, problems


def letterbox_batch(images: list[np.ndarray], img_size: int, in_channels: int = 3) -> dict[str, torch.Tensor]:
    """``images`` float [B, in_channels, S, S] in [0, 1], ``scales`` [B, 2] (sx, sy) and ``sizes`` [B, 2]
    (height, width) from RGB uint8 images of any size; one input channel means the images are converted to
    grey first."""
    if in_channels not in (1, 3):
        raise ValueError(f"model.in_channels must be 1 or 3, got {in_channels}")
    pipeline = build_pipeline(img_size)
    tensors, scales = [], []
    for image in images:
        if in_channels == 1:
            image = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[..., None]
        tensor = pipeline(image=image, bboxes=np.zeros((0, 4), np.float32), labels=[])["image"]
        tensors.append(tensor.reshape(in_channels, img_size, img_size))
        scales.append(letterbox_scale(*image.shape[:2], img_size))
    return {"images": torch.stack(tensors).float().div_(255.0), "scales": torch.tensor(scales),
            "sizes": torch.tensor([image.shape[:2] for image in images])}
