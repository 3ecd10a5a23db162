"""W&B plots at the end of each validation: per-class PR curves, a confusion matrix, and a few
validation images with predicted and true boxes. Scalars (mAP, AP per class, best-F1 precision and
recall) are logged by the LightningModule, so they also reach the CSV copy."""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
from lightning.pytorch.loggers import WandbLogger

from yololab.metrics import DetectionConfusionMatrix, pr_curves


class ValidationReport(L.Callback):
    def __init__(self, num_images: int = 8, conf_threshold: float = 0.25, iou_threshold: float = 0.45) -> None:
        self.num_images, self.conf_threshold, self.iou_threshold = num_images, conf_threshold, iou_threshold
        self.confusion: DetectionConfusionMatrix | None = None
        self.images: list = []

    def setup(self, trainer, pl_module, stage: str) -> None:
        self.confusion = DetectionConfusionMatrix(len(pl_module.class_names), self.conf_threshold, self.iou_threshold)

    def _wandb(self, trainer) -> list[WandbLogger]:
        return [lg for lg in trainer.loggers if isinstance(lg, WandbLogger)]

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        self.confusion.to(pl_module.device).reset()
        self.images = []

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if not outputs or trainer.sanity_checking:
            return
        self.confusion.update(outputs["detections"], outputs["targets"])
        if trainer.is_global_zero and len(self.images) < self.num_images and self._wandb(trainer):
            for i in range(min(self.num_images - len(self.images), len(outputs["detections"]))):
                self.images.append(self._image(batch, i, outputs["detections"][i], outputs["targets"][i]))

    def _image(self, batch: dict, i: int, det: dict, target: dict):
        """An image in input pixels; boxes from original pixels scaled back by the letterbox factor."""
        image = (batch["images"][i].float() * (255 if batch["images"].is_floating_point() else 1)).byte()
        scale = batch["scales"][i].repeat(2)
        keep = det["scores"] >= self.conf_threshold
        return (image.permute(1, 2, 0).cpu().numpy(),
                (det["boxes"][keep] * scale).cpu(), det["labels"][keep].cpu(), det["scores"][keep].cpu(),
                (target["boxes"] * scale).cpu(), target["labels"].cpu())

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking:
            return
        matrix = self.confusion.compute().cpu()  # a collective under DDP: every rank takes part
        loggers = self._wandb(trainer)
        result = pl_module.last_map_result.get("val")
        if not trainer.is_global_zero or not loggers or result is None:
            return
        names = list(pl_module.class_names)
        payload = {
            "val/pr_curve": pr_curve_plot(result, names),
            "val/confusion_matrix": confusion_plot(matrix, names),
            "val/examples": [boxes_image(*item, names) for item in self.images],
        }
        for logger in loggers:
            logger.experiment.log({**payload, "trainer/global_step": trainer.global_step})


def pr_curve_plot(result: dict, names: list[str]):
    import wandb

    recall, precision, _ = pr_curves(result)
    keys = [names[c] for c in precision]
    ys = [np.clip(p, 0, None).tolist() for p in precision.values()]
    return wandb.plot.line_series(xs=recall.tolist(), ys=ys, keys=keys, title="Precision-recall (IoU 0.5)",
                                  xname="recall")


def confusion_plot(matrix: torch.Tensor, names: list[str]):
    """W&B's confusion matrix from counts; the last row and column are background."""
    import wandb

    labels = [*names, "background"]
    y_true, y_pred = [], []
    for t, p in matrix.nonzero().tolist():
        n = int(matrix[t, p])
        y_true += [t] * n
        y_pred += [p] * n
    return wandb.plot.confusion_matrix(y_true=y_true, preds=y_pred, class_names=labels,
                                       title="Confusion matrix (conf 0.25, IoU 0.45)")


def boxes_image(image, p_boxes, p_labels, p_scores, t_boxes, t_labels, names: list[str]):
    import wandb

    class_labels = dict(enumerate(names))

    def box_data(boxes, labels, scores=None):
        out = []
        for j, (b, c) in enumerate(zip(boxes.tolist(), labels.tolist(), strict=True)):
            entry = {"position": {"minX": b[0], "minY": b[1], "maxX": b[2], "maxY": b[3]}, "domain": "pixel",
                     "class_id": int(c), "box_caption": names[int(c)]}
            if scores is not None:
                entry["scores"] = {"score": float(scores[j])}
                entry["box_caption"] = f"{names[int(c)]} {float(scores[j]):.2f}"
            out.append(entry)
        return out

    return wandb.Image(image, boxes={
        "predictions": {"box_data": box_data(p_boxes, p_labels, p_scores), "class_labels": class_labels},
        "ground_truth": {"box_data": box_data(t_boxes, t_labels), "class_labels": class_labels},
    })
