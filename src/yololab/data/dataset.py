"""The detection dataset: image records -> augmented, letterboxed samples; and their collation."""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from yololab.data.records import DataError, DataProblem, ImageRecord
from yololab.data.transforms import letterbox_scale


def read_image(path: str) -> np.ndarray:
    """RGB uint8 HxWx3; grayscale files are replicated to three channels."""
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise DataError([DataProblem(path, "unreadable image", fatal=True)])
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class DetectionDataset(Dataset):
    """Indexed by ``(epoch, index)`` (see ReproducibleSampler) or a plain index (epoch 0).

    Each sample's augmentation is seeded from (seed, epoch, index), so it is reproducible.
    """

    def __init__(self, records: list[ImageRecord], pipeline, img_size: int, seed: int = 0) -> None:
        self.records, self.pipeline, self.img_size, self.seed = records, pipeline, img_size, seed

    def __len__(self) -> int:
        return len(self.records)

    def load(self, index: int) -> tuple[np.ndarray, ImageRecord]:
        return read_image(self.records[index].path), self.records[index]

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        self.pipeline.set_random_seed(int(np.random.SeedSequence([self.seed, epoch, index]).generate_state(1)[0]))
        image, record = self.load(index)
        out = self.pipeline(image=image, bboxes=record.boxes, labels=record.labels)
        h, w = image.shape[:2]
        return {
            "image": out["image"],
            "boxes": torch.as_tensor(np.asarray(out["bboxes"], np.float32).reshape(-1, 4)),
            "labels": torch.as_tensor(np.asarray(out["labels"], np.int64).reshape(-1)),
            "scale": torch.tensor(letterbox_scale(h, w, self.img_size)),
            "index": index,
        }


def collate(samples: list[dict]) -> dict[str, torch.Tensor]:
    """Images [B, 3, H, W] uint8; targets [N, 6] rows (batch_index, class, x1, y1, x2, y2) in input pixels;
    scales [B, 2] (sx, sy) from original to input pixels; indices [B] into the dataset's records."""
    targets = [
        torch.cat([torch.full((len(s["labels"]), 1), float(i)), s["labels"][:, None].float(), s["boxes"]], 1)
        for i, s in enumerate(samples)
    ]
    return {
        "images": torch.stack([s["image"] for s in samples]),
        "targets": torch.cat(targets) if targets else torch.zeros(0, 6),
        "scales": torch.stack([s["scale"] for s in samples]),
        "indices": torch.tensor([s["index"] for s in samples]),
    }
