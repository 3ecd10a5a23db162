"""Mosaic and mixup, the two augmentations that combine training images.

They are entries of the augmentation preset like the others (``data.augment.mosaic.p=0.5``), but
the dataset applies them: it decides from each sample's seed whether they happen and which images
join, so the result depends on (seed, epoch, index) alone. Mosaic comes first, then the per-image
transforms of the preset, then letterboxing, then mixup of two such samples (the YOLO recipe's order).
Both are off in the last ``data.close_mosaic`` epochs.
"""

from __future__ import annotations

from collections.abc import Mapping

import albumentations as A
import numpy as np
import torch

from yololab.data.transforms import PAD_VALUE, bbox_params


class Mosaic:
    """Four images in a 2x2 grid cropped around a random centre to ``img_size`` (albumentations' Mosaic).

    ``fit_mode='contain'`` scales each image to fit its cell whole, keeping its aspect ratio.
    """

    def __init__(self, p: float = 1.0, center_range: tuple[float, float] = (0.3, 0.7),
                 fit_mode: str = "contain") -> None:
        self.p, self.center_range, self.fit_mode = p, tuple(center_range), fit_mode
        self.pipeline: A.Compose | None = None

    def bind(self, img_size: int) -> Mosaic:
        """Build the transform for the input size (known to the data module, not to the preset)."""
        size = (img_size, img_size)
        mosaic = A.Mosaic(grid_yx=(2, 2), target_size=size, cell_shape=size, center_range=self.center_range,
                          fit_mode=self.fit_mode, fill=PAD_VALUE, p=1.0)
        self.pipeline = A.Compose([mosaic], bbox_params=bbox_params(), seed=None)
        return self

    def __call__(self, sample: dict, partners: list[dict], seed: int) -> dict:
        """``sample`` and each partner: ``image`` HxWx3 uint8, ``bboxes`` xyxy pixels, ``labels``."""
        self.pipeline.set_random_seed(seed)
        out = self.pipeline(**sample, mosaic_metadata=partners)
        return {"image": out["image"], "bboxes": out["bboxes"], "labels": out["labels"]}


class MixUp:
    """Blends two letterboxed samples with a weight r ~ Beta(alpha, alpha) and keeps both sets of boxes.

    Written here because no dependency has it for detection: albumentations 2.0 has no mixup and
    torchvision's ``MixUp`` mixes classification labels.
    """

    def __init__(self, p: float = 0.0, alpha: float = 32.0) -> None:
        self.p, self.alpha = p, alpha

    def __call__(self, a: dict, b: dict, rng: np.random.Generator) -> dict:
        """``image``: uint8 CxHxW tensors of the same size; ``bboxes`` [N, 4]; ``labels`` [N]."""
        r = float(rng.beta(self.alpha, self.alpha))
        image = (a["image"].float() * r + b["image"].float() * (1 - r)).round().to(torch.uint8)
        return {
            "image": image,
            "bboxes": np.concatenate([np.asarray(a["bboxes"], np.float32).reshape(-1, 4),
                                      np.asarray(b["bboxes"], np.float32).reshape(-1, 4)]),
            "labels": np.concatenate([np.asarray(a["labels"], np.int64).reshape(-1),
                                      np.asarray(b["labels"], np.int64).reshape(-1)]),
        }


def split_mixing(augment: Mapping | None) -> tuple[Mosaic | None, MixUp | None, list]:
    """(mosaic, mixup, the per-image transforms in order) from an augmentation preset."""
    steps = list((augment or {}).values()) if isinstance(augment, Mapping) else list(augment or [])
    mosaic = next((t for t in steps if isinstance(t, Mosaic)), None)
    mixup = next((t for t in steps if isinstance(t, MixUp)), None)
    return mosaic, mixup, [t for t in steps if not isinstance(t, Mosaic | MixUp)]
