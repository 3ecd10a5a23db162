"""The mAP summary: per-class AP read from the precision array equals torchmetrics' own per-class pass,
and hand-computed cases come out as computed by hand."""

import pytest
import torch
from torchmetrics.detection import MeanAveragePrecision

from yololab.metrics import build_map_metric, summarize

NAMES = ["crazing", "inclusion", "patches"]


def random_images(n: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    preds, targets = [], []
    for _ in range(n):
        gt = torch.rand(4, 2, generator=g) * 100
        gt_boxes = torch.cat([gt, gt + 10 + torch.rand(4, 2, generator=g) * 40], 1)
        jitter = (torch.rand(4, 4, generator=g) - 0.5) * 12
        extra = torch.rand(3, 2, generator=g) * 100
        det_boxes = torch.cat([gt_boxes + jitter, torch.cat([extra, extra + 20], 1)])
        gt_labels = torch.randint(0, 3, (4,), generator=g)
        det_labels = torch.cat([gt_labels, torch.randint(0, 3, (3,), generator=g)])
        preds.append({"boxes": det_boxes, "scores": torch.rand(7, generator=g), "labels": det_labels})
        targets.append({"boxes": gt_boxes, "labels": gt_labels})
    return preds, targets


def test_per_class_ap_equals_torchmetrics_class_metrics():
    preds, targets = random_images(12)
    ours = build_map_metric()
    ours.update(preds, targets)
    values = summarize(ours.compute(), NAMES, "val")
    for ious, key in ((None, "AP"), ([0.5], "AP50")):
        reference = MeanAveragePrecision(iou_thresholds=ious, max_detection_thresholds=[1, 10, 300],
                                         class_metrics=True, backend="faster_coco_eval")
        reference.update(preds, targets)
        ref = reference.compute()
        for cls, ap in zip(ref["classes"].tolist(), ref["map_per_class"].tolist(), strict=True):
            assert values[f"val/{key}/{NAMES[cls]}"] == pytest.approx(ap, abs=1e-6)
        assert min(ref["map_per_class"].tolist()) > 0.05  # the case is not degenerate


def test_hand_computed_ap():
    """One box, found once: AP 1. A higher-scored false positive of the same class in front of it:
    precision 1/2 at recall 1, so AP50 = 0.5 for that class."""
    gt = {"boxes": torch.tensor([[10.0, 10, 50, 50]]), "labels": torch.tensor([0])}
    hit = {"boxes": torch.tensor([[10.0, 10, 50, 50]]), "scores": torch.tensor([0.9]), "labels": torch.tensor([0])}
    metric = build_map_metric()
    metric.update([hit], [gt])
    assert summarize(metric.compute(), NAMES, "val")["val/AP50/crazing"] == pytest.approx(1.0)
    miss_first = {"boxes": torch.tensor([[60.0, 60, 90, 90], [10, 10, 50, 50]]), "scores": torch.tensor([0.95, 0.9]),
                  "labels": torch.tensor([0, 0])}
    metric = build_map_metric()
    metric.update([miss_first], [gt])
    values = summarize(metric.compute(), NAMES, "val")
    assert values["val/AP50/crazing"] == pytest.approx(0.5)
    assert values["val/mAP50"] == pytest.approx(0.5)
