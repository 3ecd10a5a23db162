"""Dataset statistics: images and instances per class, and the distribution of box sizes, per split."""

from __future__ import annotations

import numpy as np

from yololab.data.records import ImageRecord

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
# COCO's area ranges (in the original image's pixels): small < 32², medium < 96², large above
SIZE_BUCKETS = {"small": (0, 32**2), "medium": (32**2, 96**2), "large": (96**2, float("inf"))}


def box_sizes(records: list[ImageRecord]) -> np.ndarray:
    """[N, 3]: width, height and sqrt(area) in pixels of every box."""
    boxes = np.concatenate([r.boxes for r in records]) if records else np.zeros((0, 4), np.float32)
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    return np.stack([w, h, np.sqrt(w * h)], 1)


def split_stats(records: list[ImageRecord], class_names: list[str]) -> dict:
    labels = np.concatenate([r.labels for r in records]) if records else np.zeros(0, np.int64)
    sizes = box_sizes(records)
    area = sizes[:, 2] ** 2
    quantiles = {name: (np.quantile(sizes[:, i], QUANTILES).round(1).tolist() if len(sizes) else [])
                 for i, name in enumerate(("width", "height", "sqrt_area"))}
    return {
        "images": len(records),
        "background_images": sum(1 for r in records if not len(r.labels)),
        "instances": dict(zip(class_names, np.bincount(labels, minlength=len(class_names)).tolist(), strict=True)),
        "size_buckets": {k: int(((area >= lo) & (area < hi)).sum()) for k, (lo, hi) in SIZE_BUCKETS.items()},
        "quantiles": quantiles,
    }


def dataset_stats(records: dict[str, list[ImageRecord]], class_names: list[str]) -> dict[str, dict]:
    """Per split: images, background images, instances per class, COCO size buckets, size quantiles."""
    return {split: split_stats(recs, class_names) for split, recs in records.items()}


def format_stats(stats: dict[str, dict]) -> str:
    """A plain-text table for the log."""
    splits = list(stats)
    classes = list(next(iter(stats.values()))["instances"]) if stats else []
    width = max([len(c) for c in classes] + [len("background images"), 12])
    rows = [f"{'':{width}}" + "".join(f"{s:>10}" for s in splits)]
    rows.append(f"{'images':{width}}" + "".join(f"{stats[s]['images']:>10}" for s in splits))
    rows.append(f"{'background images':{width}}" + "".join(f"{stats[s]['background_images']:>10}" for s in splits))
    for c in classes:
        rows.append(f"{c:{width}}" + "".join(f"{stats[s]['instances'][c]:>10}" for s in splits))
    for bucket in SIZE_BUCKETS:
        rows.append(f"{bucket + ' boxes':{width}}" + "".join(f"{stats[s]['size_buckets'][bucket]:>10}"
                                                             for s in splits))
    q = "/".join(f"p{int(x * 100)}" for x in QUANTILES)
    for s in splits:
        for name, values in stats[s]["quantiles"].items():
            rows.append(f"{s} box {name} px {q}: " + " ".join(f"{v:g}" for v in values))
    return "\n".join(rows)
