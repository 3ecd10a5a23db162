"""pycocotools' COCOeval, the independent reference for yololab's mAP (faster-coco-eval is the backend
under test, so it cannot be its own reference)."""

from __future__ import annotations

import contextlib
import io

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval


def coco_eval(preds: list[dict], targets: list[dict], max_dets=(1, 10, 100)) -> COCOeval:
    """Evaluates torchmetrics-style dicts (xyxy boxes; ``iscrowd`` optional) with pycocotools."""
    images, annotations, results = [], [], []
    for i, (pred, target) in enumerate(zip(preds, targets, strict=True)):
        images.append({"id": i})
        crowd = target.get("iscrowd")
        for k, (box, label) in enumerate(zip(target["boxes"].tolist(), target["labels"].tolist(), strict=True)):
            x1, y1, x2, y2 = box
            annotations.append({"id": len(annotations) + 1, "image_id": i, "category_id": int(label),
                                "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1),
                                "iscrowd": int(crowd[k]) if crowd is not None else 0})
        for box, score, label in zip(pred["boxes"].tolist(), pred["scores"].tolist(), pred["labels"].tolist(),
                                     strict=True):
            x1, y1, x2, y2 = box
            results.append({"image_id": i, "category_id": int(label), "bbox": [x1, y1, x2 - x1, y2 - y1],
                            "score": float(score)})
    classes = sorted({a["category_id"] for a in annotations} | {r["category_id"] for r in results})
    gt = COCO()
    gt.dataset = {"images": images, "annotations": annotations, "categories": [{"id": c} for c in classes]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        dt = gt.loadRes(results) if results else COCO()
        evaluator = COCOeval(gt, dt, "bbox")
        evaluator.params.maxDets = list(max_dets)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator


def coco_map(evaluator: COCOeval, cap: int, iou_index: int | None = None) -> float:
    """COCOeval's own summary rule (mean of the valid precision entries, all areas) at detection cap ``cap``."""
    precision = evaluator.eval["precision"][..., 0, list(evaluator.params.maxDets).index(cap)]
    if iou_index is not None:
        precision = precision[iou_index]
    valid = precision > -1
    return float(np.mean(precision[valid])) if valid.any() else -1.0


def coco_class_ap(evaluator: COCOeval, category: int, iou_index: int, cap: int = 100) -> float:
    """One category's AP at one IoU threshold (all areas), COCOeval's summary rule."""
    k = list(evaluator.params.catIds).index(category)
    precision = evaluator.eval["precision"][iou_index, :, k, 0, list(evaluator.params.maxDets).index(cap)]
    valid = precision > -1
    return float(np.mean(precision[valid])) if valid.any() else -1.0
