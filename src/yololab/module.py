"""The LightningModule: where the detector, the loss, the metrics and the optimiser meet."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.loggers import WandbLogger
from torch import nn
from torchvision.ops import clip_boxes_to_image

from yololab.checkpoints import CheckpointError, read_checkpoint, stored_run
from yololab.feature_cache import feature_caches
from yololab.fixed_confidence import at_confidences
from yololab.loss import DetectionLoss
from yololab.metrics import build_map_metric, summarize
from yololab.models.detector import YOLODetector
from yololab.models.postprocess import decode, non_max_suppression
from yololab.nn.protocol import fuse_batchnorm
from yololab.optim import param_groups
from yololab.stored_model import check_shapes, model_arguments, stored_img_size
from yololab.trunk import load_trunk
from yololab.utils.imports import needed_modules


class YOLODetectorModule(L.LightningModule):
    """Trains a :class:`YOLODetector`; validates and tests it with COCO mAP in original image pixels.

    The loss that is back-propagated is the per-image loss times the batch size, the YOLO
    convention that the SGD learning rate of 0.01 assumes; the per-image terms are logged.
    """

    def __init__(
        self,
        backbone: Callable[..., nn.Module],
        neck: Callable[..., nn.Module],
        head: Callable[..., nn.Module],
        class_names: list[str],
        loss: Callable[..., DetectionLoss],
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., torch.optim.lr_scheduler.LRScheduler] | None = None,
        weight_decay: float = 5e-4,
        init: str = "auto",
        in_channels: int = 3,
        val_conf_threshold: float = 0.001,
        val_iou_threshold: float = 0.7,
        max_detections: int = 300,
        predict_conf_threshold: float = 0.25,
        channels_last: bool = False,
        compile: bool = False,
        init_from: str | None = None,
        init_from_sha256: str | None = None,
        freeze: Sequence[str] = (),
        cache_features: bool = False,
        pr_confidences: Sequence[float] = (0.25,),
    ) -> None:
        super().__init__()
        self.class_names = list(class_names)
        self.model = YOLODetector(backbone, neck, head, len(self.class_names), in_channels, init)
        # a trained trunk (backbone, neck) and the parts kept fixed: yololab/trunk.py, docs/head-probe.md
        self.init_from_sha256 = load_trunk(self.model, init_from, init_from_sha256) if init_from else None
        self.model.freeze(freeze)
        self.feature_caches = feature_caches(self.model.frozen) if cache_features else {}
        self.loss_fn = loss(num_classes=len(self.class_names), reg_max=self.model.reg_max)
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.weight_decay = weight_decay
        self.val_conf_threshold, self.val_iou_threshold = val_conf_threshold, val_iou_threshold
        self.max_detections, self.predict_conf_threshold = max_detections, predict_conf_threshold
        self.channels_last, self.compile_model = channels_last, compile
        self.pr_confidences = tuple(float(c) for c in pr_confidences)  # precision/recall/F1 at each (a study's)
        self.val_map, self.test_map = build_map_metric(), build_map_metric()
        self.last_map_result: dict[str, dict] = {}  # the latest torchmetrics mAP result per stage, for callbacks
        self.config: dict = {}  # the resolved run config; stored in checkpoints so they rebuild the model alone
        self._eval_copy: dict[str, nn.Module] = {}  # a plain dict: the fused copy is never a submodule

    @classmethod
    def from_checkpoint(cls, path: str | Path, map_location: str = "cpu") -> YOLODetectorModule:
        """The module a yololab checkpoint holds, with its (EMA) weights, in eval mode. Unlike Lightning's
        ``load_from_checkpoint`` it builds the model from the stored config's model section alone, read as data
        (``yololab.stored_model``); its ``config`` holds that section and the training image size, nothing else."""
        ckpt = read_checkpoint(path, map_location)
        meta = stored_run(ckpt, path)
        try:
            arguments = model_arguments(meta["config"]["model"], meta["class_names"], path)
        except CheckpointError as err:  # name every fork module the training run used
            recorded = [str(m) for m in meta.get("imports") or []]
            raise CheckpointError(f"{err} (the run that wrote it used the modules {recorded})" if recorded
                                  else str(err)) from None
        check_shapes(arguments, ckpt["state_dict"], path)  # before anything is allocated
        model = cls(**arguments)
        model.load_state_dict(ckpt["state_dict"])
        model.config = {"model": meta["config"]["model"], "data": {"img_size": stored_img_size(meta["config"], path)}}
        return model.eval()

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        return self.model(images)

    def setup(self, stage: str) -> None:
        """Speed switches: channels-last memory layout and ``torch.compile`` (in place: checkpoint keys stay)."""
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)
        if self.compile_model and stage == "fit":
            self.model.compile()

    def on_after_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        """uint8 images become float in [0, 1] on the device, where it is cheapest."""
        images = batch["images"].float().div_(255.0)
        batch["images"] = images.contiguous(memory_format=torch.channels_last) if self.channels_last else images
        return batch

    def _loss(self, maps: list[torch.Tensor], batch: dict, stage: str):
        images = batch["images"]
        parts = self.loss_fn(maps, batch["targets"], tuple(images.shape[-2:]))
        values = {"loss": parts.total, "box_loss": parts.box, "cls_loss": parts.cls, "dfl_loss": parts.dfl}
        on_step = stage == "train"
        self.log_dict({f"{stage}/{k}": v.detach() for k, v in values.items()}, on_step=on_step, on_epoch=True,
                      batch_size=images.shape[0], sync_dist=not on_step)
        if on_step:  # the epoch's mean foreground anchors per image at each level: does every level train?
            self.log_dict({f"train/positives/stride_{s:g}": n.float() / images.shape[0]
                           for s, n in parts.positives.items()},
                          on_step=False, on_epoch=True, batch_size=images.shape[0], sync_dist=True)
        return parts.total

    def _maps(self, model: YOLODetector, batch: dict, stage: str) -> list[torch.Tensor]:
        """The head maps of ``batch``; from cached trunk features with ``cache_features`` (train and val)."""
        cache = self.feature_caches.get(stage)
        if cache is None:
            return model(batch["images"])
        return model.head(cache(model.features, batch["images"], batch["indices"]))

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = self._loss(self._maps(self.model, batch, "train"), batch, "train")
        self.log("lr", self.optimizers().param_groups[0]["lr"], on_step=True, on_epoch=False)
        return loss * batch["images"].shape[0]

    def detections(self, maps: list[torch.Tensor], batch: dict, conf_threshold: float,
                   iou_threshold: float | None = None, max_detections: int | None = None) -> list[dict]:
        """Detections per image with boxes in the pixels of the original image, clipped to it as the ground
        truth is; the NMS IoU threshold and the detection cap default to the validation settings."""
        decoded = decode(maps, tuple(batch["images"].shape[-2:]), self.model.reg_max)
        iou = self.val_iou_threshold if iou_threshold is None else iou_threshold
        dets = non_max_suppression(decoded.boxes, decoded.cls_logits.sigmoid(), conf_threshold, iou,
                                   max_detections or self.max_detections)
        for det, scale, size in zip(dets, batch["scales"], batch["sizes"], strict=True):
            det["boxes"] = clip_boxes_to_image(det["boxes"] / scale.repeat(2), tuple(size.tolist()))
        return dets

    @staticmethod
    def ground_truth(batch: dict) -> list[dict]:
        """The annotations per image, in original pixels (not the transformed targets: a transform's
        ``min_area`` must not drop a small box from the ground truth); ``iscrowd`` marks ignore regions."""
        return batch["annotations"]

    def _start_evaluation(self) -> None:
        """Validation and test run a copy with BatchNorm folded into the convs (the EMA weights, when the
        EMA callback has swapped them in): same outputs, a faster forward."""
        if not self.compile_model:
            fused = fuse_batchnorm(self.model)
            self._eval_copy["model"] = fused.to(memory_format=torch.channels_last) if self.channels_last else fused

    def _evaluate(self, batch: dict, stage: str, metric) -> dict:
        """Updates the mAP; returns the detections and ground truth for callbacks (original pixels)."""
        maps = self._maps(self._eval_copy.get("model", self.model), batch, stage)
        self._loss(maps, batch, stage)
        detections, targets = self.detections(maps, batch, self.val_conf_threshold), self.ground_truth(batch)
        metric.update(detections, targets, image_ids=batch["indices"])
        return {"detections": detections, "targets": targets}

    def _log_metric(self, stage: str, metric) -> dict[str, float]:
        self.last_map_result[stage] = metric.compute()
        values = summarize(self.last_map_result[stage], self.class_names, stage)
        values.update(at_confidences(self.last_map_result[stage], stage, self.pr_confidences))
        metric.reset()
        self.log_dict(values, sync_dist=False, rank_zero_only=False)
        return values

    def validation_step(self, batch: dict, batch_idx: int) -> dict:
        return self._evaluate(batch, "val", self.val_map)

    def on_validation_epoch_start(self) -> None:
        self._start_evaluation()

    def on_validation_epoch_end(self) -> None:
        self._eval_copy.clear()
        self._log_metric("val", self.val_map)

    def test_step(self, batch: dict, batch_idx: int) -> dict:
        return self._evaluate(batch, "test", self.test_map)

    def on_test_epoch_start(self) -> None:
        self._start_evaluation()

    def on_test_epoch_end(self) -> None:
        self._eval_copy.clear()
        self._log_metric("test", self.test_map)

    def configure_optimizers(self):
        optimizer = self.optimizer_factory(param_groups(self.model, self.weight_decay))
        if self.scheduler_factory is None:
            return optimizer
        total = int(self.trainer.estimated_stepping_batches)
        per_epoch = max(total // max(self.trainer.max_epochs or 1, 1), 1)
        scheduler = self.scheduler_factory(optimizer, total_steps=total, steps_per_epoch=per_epoch)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        wandb_id = next((lg.version for lg in self.loggers if isinstance(lg, WandbLogger)), None)
        checkpoint["yololab"] = {"config": self.config, "class_names": self.class_names, "wandb_id": wandb_id,
                                 "imports": needed_modules(self.config)}  # what eval, predict, export must import
