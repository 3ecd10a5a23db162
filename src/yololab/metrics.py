"""COCO-style detection metrics from torchmetrics, flattened into the logged keys."""

from __future__ import annotations

import logging

from torchmetrics.detection import MeanAveragePrecision

logging.getLogger("faster_coco_eval").setLevel(logging.WARNING)  # it prints the COCO table at INFO


def build_map_metric() -> MeanAveragePrecision:
    """mAP over IoU 0.50:0.95 with up to 300 detections per image, per-class values and the PR arrays."""
    return MeanAveragePrecision(
        box_format="xyxy",
        iou_type="bbox",
        max_detection_thresholds=[1, 10, 300],
        class_metrics=True,
        extended_summary=True,
        backend="faster_coco_eval",
    )


def ap50_per_class(result: dict) -> dict[int, float]:
    """AP at IoU 0.5 per class id, from the precision array [T, R, K, A, M] (all areas, most detections)."""
    precision = result["precision"][0, :, :, 0, -1]  # [R, K]
    classes = result["classes"].reshape(-1).tolist()
    out = {}
    for k, cls in enumerate(classes):
        valid = precision[:, k] > -1
        if valid.any():
            out[int(cls)] = precision[valid, k].mean().item()
    return out


def summarize(result: dict, class_names: list[str], prefix: str) -> dict[str, float]:
    """``{prefix}/mAP50``, ``{prefix}/mAP50-95``, ``{prefix}/AP50/<class>`` and ``{prefix}/AP/<class>``."""
    out = {f"{prefix}/mAP50": float(result["map_50"]), f"{prefix}/mAP50-95": float(result["map"])}
    for cls, ap in ap50_per_class(result).items():
        out[f"{prefix}/AP50/{class_names[cls]}"] = ap
    per_class = result["map_per_class"].reshape(-1)
    for cls, ap in zip(result["classes"].reshape(-1).tolist(), per_class.tolist(), strict=False):
        if ap > -1:
            out[f"{prefix}/AP/{class_names[int(cls)]}"] = ap
    return {k: v if v >= 0 else 0.0 for k, v in out.items()}  # -1 or NaN: no ground truth
