"""The neck features of a frozen trunk, computed once per image and kept in memory (``model.cache_features``).

A frozen backbone and neck map an image to the same features at every epoch, so a head probe need not run them
again as long as the image is the same: a validation image always is, a training image only without
augmentation (``data/augment=none``). Each cached image keeps a checksum of its input, and a training image that
differs from the cached one stops the run, saying so. Features are computed one image at a time, so they do not
depend on which images share a batch (a resumed run batches them differently). Memory: the neck's maps of every
image, e.g. 0.18 MB per image for model/scale=n at 160 px (260 MB for NEU-DET's 1,440 training images).
"""

from __future__ import annotations

from collections.abc import Callable

import torch


class FeatureCache:
    """Per image index: the trunk's maps (one per level) and its input's checksum."""

    def __init__(self, stage: str) -> None:
        self.stage = stage
        self.features: dict[int, list[torch.Tensor]] = {}
        self.checksums: dict[int, float] = {}

    def __call__(self, trunk: Callable[[torch.Tensor], list[torch.Tensor]], images: torch.Tensor,
                 indices: torch.Tensor) -> list[torch.Tensor]:
        """The batch's features, computing (under ``no_grad``) those of images seen for the first time."""
        keys = indices.tolist()
        for key, image, checksum in zip(keys, images, images.flatten(1).double().sum(1).tolist(), strict=True):
            if key not in self.features:
                with torch.no_grad():
                    self.features[key] = [level[0] for level in trunk(image[None])]
                self.checksums[key] = checksum
            elif self.checksums[key] != checksum:
                raise ValueError(f"model.cache_features: {self.stage} image {key} is not the image whose features "
                                 "were cached (augmentation is on): set data/augment=none, or "
                                 "model.cache_features=false")
        levels = len(self.features[keys[0]])
        return [torch.stack([self.features[key][level] for key in keys]) for level in range(levels)]


def feature_caches(frozen: tuple[str, ...]) -> dict[str, FeatureCache]:
    """``cache_features``: the frozen trunk's features, kept per image for training and validation."""
    if not {"backbone", "neck"} <= set(frozen):
        raise ValueError("model.cache_features=true needs a frozen trunk: model.freeze=[backbone,neck]")
    return {stage: FeatureCache(stage) for stage in ("train", "val")}
