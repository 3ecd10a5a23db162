"""COCO-style detection metrics from torchmetrics, flattened into the logged keys."""

from __future__ import annotations

import logging

import numpy as np
import torch
from torchmetrics import Metric
from torchmetrics.detection import MeanAveragePrecision
from torchmetrics.utilities.distributed import gather_all_tensors
from torchvision.ops import box_convert, box_iou

from yololab.utils.private_api import WholeStateSync

logging.getLogger("faster_coco_eval").setLevel(logging.WARNING)  # it prints the COCO table at INFO


class GatheredMeanAveragePrecision(WholeStateSync, MeanAveragePrecision):
    """torchmetrics' COCO mAP, synchronised across ranks in one gather and in dataset order.

    The parent gathers its per-image list states one image at a time, which needs the same number
    of images on every rank (gloo crashes otherwise) and costs a collective per image. Here every
    rank packs its images into one tensor of rows (image id, kind, class, score, x1, y1, x2, y2; kind -1 is
    the image, 0 a detection, 1 a ground-truth box, 2 an ignore region),
    one gather brings them all together (ranks may hold different numbers), and the images are
    re-added sorted by id: the result equals the single-process one.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("image_ids", default=[], dist_reduce_fx=None)

    def update(self, preds: list[dict], target: list[dict], image_ids: torch.Tensor | None = None) -> None:
        super().update(preds, target)
        start = len(self.image_ids)
        ids = image_ids if image_ids is not None else torch.arange(start, start + len(preds))
        self.image_ids.extend(torch.as_tensor(i, dtype=torch.long, device=self.device) for i in ids.tolist())

    def _pack(self) -> torch.Tensor:
        """The stored boxes are xywh (the parent converts on update); they are packed back as given."""
        rows = []
        for img, box, score, label, gt_box, gt_label, crowd in zip(
            self.image_ids, self.detection_box, self.detection_scores, self.detection_labels,
            self.groundtruth_box, self.groundtruth_labels, self.groundtruth_crowds, strict=True,
        ):
            i = img.double()
            rows.append(torch.stack([i, i.new_tensor(-1.0), *[i.new_zeros(())] * 6])[None])  # the image itself
            box, gt_box = (box_convert(b.double(), "xywh", self.box_format) for b in (box, gt_box))
            rows.append(torch.cat([_col(i, len(label)), _col(i.new_tensor(0.0), len(label)), label.double()[:, None],
                                   score.double()[:, None], box], 1))
            rows.append(torch.cat([_col(i, len(gt_label)), 1.0 + crowd.double()[:, None],
                                   gt_label.double()[:, None], _col(i.new_tensor(0.0), len(gt_label)), gt_box], 1))
        return torch.cat(rows) if rows else torch.zeros(0, 8, dtype=torch.float64, device=self.device)

    def sync_states(self, process_group) -> None:
        """Every rank's images, gathered in one collective and stored in id order (``WholeStateSync``)."""
        gathered = gather_all_tensors(self._pack(), group=process_group)
        rows = torch.cat(gathered)
        preds, targets, ids = [], [], []
        for img in torch.unique(rows[rows[:, 1] == -1, 0]).tolist():  # sorted image ids
            mine = rows[rows[:, 0] == img]
            det, gt = mine[mine[:, 1] == 0], mine[mine[:, 1] >= 1]
            preds.append({"boxes": det[:, 4:].float(), "scores": det[:, 3].float(), "labels": det[:, 2].long()})
            targets.append({"boxes": gt[:, 4:].float(), "labels": gt[:, 2].long(), "iscrowd": (gt[:, 1] - 1).long()})
            ids.append(int(img))
        for name in self.metric_state:
            setattr(self, name, [])
        MeanAveragePrecision.update(self, preds, targets)
        self.image_ids = [torch.tensor(i, device=self.device) for i in ids]


def _col(value: torch.Tensor, n: int) -> torch.Tensor:
    return value.expand(n, 1)


# COCO's detection caps per image and category; the main figures use 100 (COCOeval's standard), and
# 300 gives the figure comparable with ultralytics' validation (which caps NMS output at 300).
MAX_DETECTIONS = (1, 100, 300)
MAIN_CAP = MAX_DETECTIONS.index(100)
# COCOeval's thresholds, built as pycocotools builds them (float64). torchmetrics' defaults come from
# torch.linspace in float32, where 0.8 is 0.800000012: a detection at IoU exactly 0.8 then misses that threshold.
IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1).tolist()
RECALL_THRESHOLDS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1).tolist()


def build_map_metric() -> MeanAveragePrecision:
    """COCO mAP over IoU 0.50:0.95 and the PR arrays, for the caps in ``MAX_DETECTIONS``."""
    return GatheredMeanAveragePrecision(
        box_format="xyxy",
        iou_type="bbox",
        iou_thresholds=list(IOU_THRESHOLDS),
        rec_thresholds=list(RECALL_THRESHOLDS),
        max_detection_thresholds=list(MAX_DETECTIONS),
        class_metrics=False,  # per-class AP comes from the precision array (ap_per_class)
        extended_summary=True,
        backend="faster_coco_eval",
    )


def mean_ap(result: dict, iou_index: int | None = None, cap: int = MAIN_CAP) -> float:
    """COCOeval's AP summary from the precision array [T, R, K, A, M] (all areas, detection cap index
    ``cap``): the mean over the valid entries, at one IoU threshold (``iou_index``) or all of them."""
    precision = result["precision"][..., 0, cap]
    if iou_index is not None:
        precision = precision[iou_index]
    valid = precision > -1
    return precision[valid].mean().item() if valid.any() else -1.0


def ap_per_class(result: dict, iou_index: int | None = None) -> dict[int, float]:
    """AP per class id from the precision array [T, R, K, A, M] (all areas, 100 detections): at one IoU
    threshold (``iou_index``; 0 is IoU 0.5), or averaged over all of them (COCO AP). This is exactly what
    COCOeval's summary gives for one category (evaluation is per image and category), without the second
    evaluation pass that torchmetrics' ``class_metrics=True`` runs."""
    precision = result["precision"][..., 0, MAIN_CAP]  # [T, R, K]
    if iou_index is not None:
        precision = precision[iou_index : iou_index + 1]
    classes = result["classes"].reshape(-1).tolist()
    out = {}
    for k, cls in enumerate(classes):
        values = precision[:, :, k]
        valid = values > -1
        if valid.any():
            out[int(cls)] = values[valid].mean().item()
    return out


def summarize(result: dict, class_names: list[str], prefix: str) -> dict[str, float]:
    """``{prefix}/mAP50``, ``{prefix}/mAP50-95`` (COCO: up to 100 detections per image and class),
    ``{prefix}/mAP50-95_300det`` (up to 300, as ultralytics counts), ``{prefix}/AP50/<class>``, ``{prefix}/AP/<class>``,
    and the best-F1 precision and recall."""
    out = {f"{prefix}/mAP50": mean_ap(result, 0), f"{prefix}/mAP50-95": mean_ap(result),
           f"{prefix}/mAP50_300det": mean_ap(result, 0, MAX_DETECTIONS.index(300)),
           f"{prefix}/mAP50-95_300det": mean_ap(result, cap=MAX_DETECTIONS.index(300))}
    for cls, ap in ap_per_class(result, iou_index=0).items():
        out[f"{prefix}/AP50/{class_names[cls]}"] = ap
    f1 = best_f1(result)
    out[f"{prefix}/precision"], out[f"{prefix}/recall"] = f1["precision"], f1["recall"]
    out[f"{prefix}/best_f1_conf"] = f1["conf"]
    for cls, ap in ap_per_class(result).items():
        out[f"{prefix}/AP/{class_names[cls]}"] = ap
    return {k: v if v >= 0 else 0.0 for k, v in out.items()}  # -1 or NaN: no ground truth


def pr_curves(result: dict, iou_index: int = 0) -> tuple[np.ndarray, dict[int, np.ndarray], dict[int, np.ndarray]]:
    """Recall grid [R] and, per class id, precision [R] and the score threshold [R] reaching each recall
    (IoU 0.5 by default, all areas, 100 detections); -1 where a recall is never reached."""
    precision = result["precision"][iou_index, :, :, 0, MAIN_CAP].cpu().numpy()
    scores = result["scores"][iou_index, :, :, 0, MAIN_CAP].cpu().numpy()
    recall = np.linspace(0, 1, precision.shape[0])
    classes = [int(c) for c in result["classes"].reshape(-1).tolist()]
    return recall, {c: precision[:, k] for k, c in enumerate(classes)}, {c: scores[:, k] for k, c in enumerate(classes)}


def best_f1(result: dict, grid: int = 1001) -> dict[str, float]:
    """Mean precision and recall over classes at the confidence that maximises the mean F1.

    At threshold c a class reaches the largest recall whose score threshold is >= c, with COCO's
    interpolated precision there; classes without ground truth are left out.
    """
    recall, precision, scores = pr_curves(result)
    conf = np.linspace(0, 1, grid)[:, None]
    p_rows, r_rows = [], []
    for cls, p in precision.items():
        reached = (scores[cls][None, :] >= conf) & (p[None, :] > -1)  # [grid, R]
        if not (p > -1).any():
            continue
        last = np.where(reached.any(1), reached.shape[1] - 1 - np.argmax(reached[:, ::-1], axis=1), -1)
        p_rows.append(np.where(last >= 0, p[np.maximum(last, 0)], 0.0))
        r_rows.append(np.where(last >= 0, recall[np.maximum(last, 0)], 0.0))
    if not p_rows:
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0, "conf": 0.0}
    p_mean, r_mean = np.mean(p_rows, 0), np.mean(r_rows, 0)
    f1 = 2 * p_mean * r_mean / np.maximum(p_mean + r_mean, 1e-12)
    i = int(np.argmax(f1))
    return {"precision": float(p_mean[i]), "recall": float(r_mean[i]), "f1": float(f1[i]), "conf": float(conf[i, 0])}


class DetectionConfusionMatrix(Metric):
    """Counts [C + 1, C + 1] (rows: true class, columns: predicted; the last index is background).

    Detections above ``conf_threshold`` are matched one-to-one to ground truth by IoU >= ``iou_threshold``,
    greedily by IoU, whatever their class; unmatched boxes count against background.
    """

    full_state_update = False

    def __init__(self, num_classes: int, conf_threshold: float = 0.25, iou_threshold: float = 0.45) -> None:
        super().__init__()
        self.num_classes, self.conf_threshold, self.iou_threshold = num_classes, conf_threshold, iou_threshold
        self.add_state("matrix", torch.zeros(num_classes + 1, num_classes + 1, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: list[dict], targets: list[dict]) -> None:
        bg = self.num_classes
        for pred, target in zip(preds, targets, strict=True):
            keep = pred["scores"] >= self.conf_threshold
            p_boxes, p_labels = pred["boxes"][keep], pred["labels"][keep]
            real = target["iscrowd"] == 0 if "iscrowd" in target else slice(None)  # ignore regions are not objects
            t_boxes, t_labels = target["boxes"][real], target["labels"][real]
            t_matched = torch.zeros(len(t_labels), dtype=torch.bool, device=t_labels.device)
            p_matched = torch.zeros(len(p_labels), dtype=torch.bool, device=p_labels.device)
            if len(t_labels) and len(p_labels):
                iou = box_iou(t_boxes, p_boxes)
                ti, pi = (iou >= self.iou_threshold).nonzero(as_tuple=True)
                for k in torch.argsort(iou[ti, pi], descending=True).tolist():
                    t, p = ti[k], pi[k]
                    if not t_matched[t] and not p_matched[p]:
                        t_matched[t] = p_matched[p] = True
                        self.matrix[t_labels[t], p_labels[p]] += 1
            for t in t_labels[~t_matched].tolist():
                self.matrix[t, bg] += 1
            for p in p_labels[~p_matched].tolist():
                self.matrix[bg, p] += 1

    def compute(self) -> torch.Tensor:
        return self.matrix
