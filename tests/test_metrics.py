"""The mAP summary: per-class AP read from the precision array equals torchmetrics' own per-class pass,
and hand-computed cases (AP, the PR curves, the best-F1 point, the confusion matrix) come out as computed
by hand."""

import numpy as np
import pytest
import torch
from torchmetrics.detection import MeanAveragePrecision

from yololab.metrics import (
    IOU_THRESHOLDS,
    RECALL_THRESHOLDS,
    DetectionConfusionMatrix,
    best_f1,
    build_map_metric,
    pr_curves,
    summarize,
)

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
    for ious, key in ((IOU_THRESHOLDS, "AP"), ([0.5], "AP50")):
        reference = MeanAveragePrecision(iou_thresholds=ious, rec_thresholds=RECALL_THRESHOLDS,
                                         max_detection_thresholds=[1, 10, 300],
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


def cell(i: int, height: float = 8.0) -> list[float]:
    """Disjoint 8-px boxes along a row, one per index."""
    return [10.0 * i, 0.0, 10.0 * i + 8, height]


def pr_case() -> dict:
    """Two images. Class 0: three boxes (two in image 0, one in image 1); its detections by score are
    0.9 TP, 0.8 TP, 0.7 FP, 0.6 FP, 0.5 FP, 0.4 FP, 0.3 TP. Class 1: one box in image 1, found at 0.6 with
    IoU 5/8 = 0.625. Class 2: no box, one false positive at 0.95."""
    targets = [{"boxes": torch.tensor([cell(0), cell(1)]), "labels": torch.tensor([0, 0])},
               {"boxes": torch.tensor([cell(0), cell(5)]), "labels": torch.tensor([0, 1])}]
    preds = [{"boxes": torch.tensor([cell(0), cell(3), cell(4), cell(1)]), "scores": torch.tensor([0.9, 0.7, 0.5, 0.3]),
              "labels": torch.tensor([0, 0, 0, 0])},
             {"boxes": torch.tensor([cell(0), cell(6), cell(7), cell(5, height=5.0), cell(8)]),
              "scores": torch.tensor([0.8, 0.6, 0.4, 0.6, 0.95]), "labels": torch.tensor([0, 0, 0, 1, 2])}]
    metric = build_map_metric()
    metric.update(preds, targets)
    return metric.compute()


def test_pr_curves_by_hand():
    """COCO's 101-point curve for class 0: recall 1/3 at 0.9, 2/3 at 0.8 (precision 1), 1 at 0.3 (precision
    3/7); a recall point r takes the first detection reaching it, with the best precision from there on."""
    result = pr_case()
    recall, precision, scores = pr_curves(result)
    assert np.allclose(recall, np.arange(101) / 100)
    assert set(precision) == {0, 1, 2}
    np.testing.assert_allclose(precision[0], [1.0] * 67 + [3 / 7] * 34, atol=1e-6)  # r <= 0.66 | r >= 0.67
    np.testing.assert_allclose(scores[0], [0.9] * 34 + [0.8] * 33 + [0.3] * 34, atol=1e-6)
    np.testing.assert_allclose(precision[1], [1.0] * 101)
    np.testing.assert_allclose(scores[1], [0.6] * 101, atol=1e-6)
    np.testing.assert_allclose(precision[2], [-1.0] * 101)  # no ground truth: undefined
    assert float(result["map_50"]) == pytest.approx(((67 + 34 * 3 / 7) / 101 + 1) / 2, abs=1e-6)
    # at IoU 0.65 (index 3) the class-1 detection (IoU 0.625) is a false positive: precision 0 everywhere
    _, precision_65, _ = pr_curves(result, iou_index=3)
    np.testing.assert_allclose(precision_65[1], [0.0] * 101)
    np.testing.assert_allclose(precision_65[0], precision[0], atol=1e-6)


def test_best_f1_by_hand():
    """Mean over the classes with ground truth (0 and 1) at each confidence c:
    c <= 0.3: class 0 (P 3/7, R 1), class 1 (1, 1) -> P 5/7, R 1, F1 0.833;
    0.3 < c <= 0.6: class 0 (1, 0.66: the grid's last recall point below 2/3), class 1 (1, 1) -> P 1, R 0.83,
    F1 0.907, the best, first reached at c = 0.301 on the 0.001 grid;
    0.6 < c <= 0.8: class 1 finds nothing (0, 0) -> P 0.5, R 0.33; above 0.9 nothing at all."""
    f1 = best_f1(pr_case())
    assert f1["conf"] == pytest.approx(0.301)
    assert f1["precision"] == pytest.approx(1.0)
    assert f1["recall"] == pytest.approx((0.66 + 1.0) / 2)
    assert f1["f1"] == pytest.approx(2 * 0.83 / 1.83)


def test_confusion_matrix_by_hand():
    """Rows: true class, columns: predicted, index 2 is background (conf 0.25, IoU 0.45)."""
    targets = [{"boxes": torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30]]), "labels": torch.tensor([0, 1])},
               {"boxes": torch.tensor([[0.0, 0, 10, 10], [40, 40, 50, 50]]), "labels": torch.tensor([0, 1])}]
    preds = [
        {"boxes": torch.tensor([[0.0, 0, 10, 10],  # class 0 on the class-0 box: (0, 0)
                                [20, 20, 30, 31],  # class 0 on the class-1 box (IoU 0.91): (1, 0)
                                [50, 50, 60, 60],  # on nothing: (background, 1)
                                [0, 0, 10, 10]]),  # score 0.1, below the threshold: not counted
         "scores": torch.tensor([0.9, 0.8, 0.7, 0.1]), "labels": torch.tensor([0, 0, 1, 1])},
        {"boxes": torch.tensor([[0.0, 0, 10, 12],  # higher score, IoU 0.83: loses the box to the next one
                                [0, 0, 10, 10],  # IoU 1: matched first (greedy by IoU): (0, 0)
                                [44, 40, 54, 50]]),  # IoU 0.43 with the class-1 box: (background, 1)
         "scores": torch.tensor([0.95, 0.6, 0.5]), "labels": torch.tensor([1, 0, 1])},
    ]  # the class-1 box of image 1 is missed: (1, background)
    metric = DetectionConfusionMatrix(num_classes=2, conf_threshold=0.25, iou_threshold=0.45)
    metric.update(preds, targets)
    assert metric.compute().tolist() == [[2, 0, 0],
                                         [1, 0, 1],
                                         [0, 3, 0]]
