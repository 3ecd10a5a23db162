"""Sample transforms: the configured albumentations augmentations, then letterbox and tensor.

A sample is an RGB uint8 HxWx3 image, xyxy pixel boxes and class labels. Letterboxing scales the
longer side to ``img_size`` and pads at the bottom and right, so a box maps back to the original
image by a division by the scale alone. With ``channels=1`` the image becomes grey at the very end.
"""

from __future__ import annotations

from collections.abc import Sequence

import albumentations as A
import cv2
from albumentations.pytorch import ToTensorV2

PAD_VALUE = 114


def letterbox_scale(height: int, width: int, img_size: int) -> tuple[float, float]:
    """(sx, sy): the per-axis scale LongestMaxSize applies, its rounding included."""
    s = img_size / max(height, width)
    return max(1, round(width * s)) / width, max(1, round(height * s)) / height


def bbox_params() -> A.BboxParams:
    """Boxes as xyxy pixels; one less than a fifth visible, or under 4 px², is dropped."""
    return A.BboxParams(format="pascal_voc", label_fields=["labels"], min_visibility=0.2, min_area=4, clip=True)


def build_pipeline(img_size: int, augment: Sequence[A.BasicTransform] | None = None, channels: int = 3) -> A.Compose:
    """Augmentations in order, then letterbox to ``img_size`` and a uint8 CHW tensor; bbox-safe."""
    if channels not in (1, 3):
        raise ValueError(f"data.channels must be 1 or 3, got {channels}")
    steps = list(augment or [])
    steps += [
        A.LongestMaxSize(max_size=img_size),
        A.PadIfNeeded(img_size, img_size, position="top_left", border_mode=cv2.BORDER_CONSTANT, fill=PAD_VALUE),
    ]
    if channels == 1:
        steps.append(A.ToGray(num_output_channels=1, p=1.0))
    steps.append(ToTensorV2())
    return A.Compose(steps, bbox_params=bbox_params(), seed=None)
