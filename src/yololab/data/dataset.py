"""The detection dataset: image records -> augmented, letterboxed samples; and their collation."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from yololab.data.image_cache import ImageCache
from yololab.data.images import read_image
from yololab.data.mixing import MixUp, Mosaic
from yololab.data.records import ImageRecord
from yololab.data.transforms import letterbox_scale


class DetectionDataset(Dataset):
    """Indexed by ``(epoch, index)`` (see ReproducibleSampler) or a plain index (epoch 0).

    Every random choice of a sample (its augmentation, whether it gets a mosaic or mixup, and their
    partner images) comes from a generator seeded with (seed, epoch, index): samples do not depend on
    the number of workers or on which worker makes them, and a resumed run sees the same samples.
    Mosaic and mixup apply in epochs ``[0, mix_epochs)`` (always when ``mix_epochs`` is None).
    Images in ``cache`` (the RAM cache) are taken from it; the others are read from disk.
    """

    def __init__(self, records: list[ImageRecord], pipeline, img_size: int, seed: int = 0,
                 mosaic: Mosaic | None = None, mixup: MixUp | None = None, mix_epochs: int | None = None,
                 cache: ImageCache | None = None) -> None:
        self.records, self.pipeline, self.img_size, self.seed = records, pipeline, img_size, seed
        self.mosaic = mosaic.bind(img_size) if mosaic is not None and mosaic.p > 0 else None
        self.mixup = mixup if mixup is not None and mixup.p > 0 else None
        self.mix_epochs = mix_epochs
        self.cache = cache

    def __len__(self) -> int:
        return len(self.records)

    def load(self, index: int) -> dict:
        """The decoded sample as albumentations takes it: ``image``, ``bboxes``, ``labels``."""
        record = self.records[index]
        image = self.cache.get(record.path) if self.cache is not None else None
        return {"image": read_image(record.path) if image is None else image,
                "bboxes": record.boxes, "labels": record.labels}

    def mixing(self, epoch: int) -> bool:
        return self.mix_epochs is None or epoch < self.mix_epochs

    def augmented(self, index: int, rng: np.random.Generator, mix: bool) -> dict:
        """Sample ``index``, in a mosaic when ``rng`` says so, through the pipeline; with its letterbox scale."""
        sample = self.load(index)
        if mix and self.mosaic is not None and rng.random() < self.mosaic.p:
            partners = [self.load(int(i)) for i in rng.integers(len(self), size=3)]
            sample = self.mosaic(sample, partners, int(rng.integers(2**32)))
        h, w = sample["image"].shape[:2]
        self.pipeline.set_random_seed(int(rng.integers(2**32)))
        out = self.pipeline(**sample)
        return {"image": out["image"], "bboxes": out["bboxes"], "labels": out["labels"],
                "scale": letterbox_scale(h, w, self.img_size)}

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        rng = np.random.default_rng([self.seed, epoch, index])
        mix = self.mixing(epoch)
        sample = self.augmented(index, rng, mix)
        if mix and self.mixup is not None and rng.random() < self.mixup.p:
            other = self.augmented(int(rng.integers(len(self))), rng, mix)
            sample = {**self.mixup(sample, other, rng), "scale": sample["scale"]}
        record = self.records[index]
        return {
            "image": sample["image"],
            "boxes": torch.as_tensor(np.asarray(sample["bboxes"], np.float32).reshape(-1, 4)),
            "labels": torch.as_tensor(np.asarray(sample["labels"], np.int64).reshape(-1)),
            "scale": torch.tensor(sample["scale"]),
            "size": torch.tensor([record.height, record.width]),
            "annotations": annotations(record),
            "index": index,
        }


def annotations(record: ImageRecord) -> dict[str, torch.Tensor]:
    """The image's ground truth for evaluation, as annotated (original pixels, nothing dropped by a transform):
    boxes [N, 4] xyxy, labels [N], and ``iscrowd`` [N] marking the ignore regions (difficult / crowd)."""
    boxes = np.concatenate([record.boxes, record.ignored_boxes]).reshape(-1, 4)
    labels = np.concatenate([record.labels, record.ignored_labels]).astype(np.int64)
    crowd = np.r_[np.zeros(len(record.labels), np.int64), np.ones(len(record.ignored_labels), np.int64)]
    return {"boxes": torch.from_numpy(boxes.astype(np.float32)), "labels": torch.from_numpy(labels),
            "iscrowd": torch.from_numpy(crowd)}


def collate(samples: list[dict]) -> dict:
    """Images [B, C, H, W] uint8; targets [N, 6] rows (batch_index, class, x1, y1, x2, y2) in input pixels;
    scales [B, 2] (sx, sy) from original to input pixels; sizes [B, 2] (height, width) of the original
    images; annotations: per image, the evaluation ground truth in original pixels; indices [B] into the
    dataset's records."""
    targets = [
        torch.cat([torch.full((len(s["labels"]), 1), float(i)), s["labels"][:, None].float(), s["boxes"]], 1)
        for i, s in enumerate(samples)
    ]
    return {
        "images": torch.stack([s["image"] for s in samples]),
        "targets": torch.cat(targets) if targets else torch.zeros(0, 6),
        "scales": torch.stack([s["scale"] for s in samples]),
        "sizes": torch.stack([s["size"] for s in samples]),
        "annotations": [s["annotations"] for s in samples],
        "indices": torch.tensor([s["index"] for s in samples]),
    }
