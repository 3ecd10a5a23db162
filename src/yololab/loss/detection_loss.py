"""The YOLOv8-class detection loss: BCE for classes, CIoU for boxes, distribution focal loss (DFL)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from yololab.box_coding import boxes_to_distances
from yololab.loss.assigner import TaskAlignedAssigner
from yololab.loss.ciou import ciou_loss
from yololab.models.postprocess import decode


@dataclass
class LossParts:
    """The weighted loss terms, each a per-image mean (the unit in which they are logged)."""

    box: torch.Tensor
    cls: torch.Tensor
    dfl: torch.Tensor
    # foreground anchor points in the batch per pyramid level, keyed by the level's stride (not a loss term)
    positives: dict[float, torch.Tensor] = field(default_factory=dict)

    @property
    def total(self) -> torch.Tensor:
        return self.box + self.cls + self.dfl


def pad_targets(targets: torch.Tensor, batch_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rows (batch_index, class, x1, y1, x2, y2) -> labels [B, M], boxes [B, M, 4], mask [B, M]."""
    image_idx = targets[:, 0].long()
    counts = torch.bincount(image_idx, minlength=batch_size)
    m = int(counts.max()) if targets.numel() else 0
    order = torch.argsort(image_idx, stable=True)
    image_idx, rows = image_idx[order], targets[order]
    starts = torch.cumsum(counts, 0) - counts
    slot = torch.arange(len(rows), device=targets.device) - starts[image_idx]
    labels = targets.new_zeros(batch_size, m, dtype=torch.long)
    boxes = targets.new_zeros(batch_size, m, 4)
    mask = torch.zeros(batch_size, m, dtype=torch.bool, device=targets.device)
    labels[image_idx, slot] = rows[:, 1].long()
    boxes[image_idx, slot] = rows[:, 2:6]
    mask[image_idx, slot] = True
    return labels, boxes, mask


def distribution_focal_loss(dist_logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """[N, 4, reg_max] logits, [N, 4] continuous targets -> [N]: cross-entropy to the two nearest
    bins, weighted by proximity, averaged over the four sides."""
    reg_max = dist_logits.shape[-1]
    logits = dist_logits.reshape(-1, reg_max)
    left = target.long().reshape(-1)
    right_weight = target.reshape(-1) - left
    loss = F.cross_entropy(logits, left, reduction="none") * (1 - right_weight)
    loss = loss + F.cross_entropy(logits, left + 1, reduction="none") * right_weight
    return loss.view(-1, 4).mean(-1)


class DetectionLoss(nn.Module):
    """Assigns targets with :class:`TaskAlignedAssigner` and weighs box 7.5, class 0.5, DFL 1.5."""

    def __init__(
        self,
        num_classes: int,
        reg_max: int = 16,
        box_gain: float = 7.5,
        cls_gain: float = 0.5,
        dfl_gain: float = 1.5,
        assigner: TaskAlignedAssigner | None = None,
    ) -> None:
        super().__init__()
        self.num_classes, self.reg_max = num_classes, reg_max
        self.box_gain, self.cls_gain, self.dfl_gain = box_gain, cls_gain, dfl_gain
        self.assigner = assigner or TaskAlignedAssigner()

    def forward(self, maps: list[torch.Tensor], targets: torch.Tensor, image_hw: tuple[int, int]) -> LossParts:
        """``maps``: raw head maps; ``targets``: rows (batch_index, class, x1, y1, x2, y2) in input pixels."""
        batch_size = maps[0].shape[0]
        decoded = decode(maps, image_hw, self.reg_max)
        anchors, strides, dist_logits = decoded.anchors, decoded.strides, decoded.dist_logits
        cls_logits, pred_boxes = decoded.cls_logits, decoded.boxes

        gt_labels, gt_boxes, gt_mask = pad_targets(targets.float(), batch_size)
        t = self.assigner(cls_logits.detach().sigmoid(), pred_boxes.detach(), anchors, gt_labels, gt_boxes, gt_mask)
        score_sum = t.scores.sum().clamp(min=1.0)

        cls = F.binary_cross_entropy_with_logits(cls_logits, t.scores, reduction="sum") / score_sum
        box = dfl = cls_logits.new_zeros(())
        if t.fg_mask.any():
            weight = t.scores.sum(-1)[t.fg_mask]
            box_loss = ciou_loss(pred_boxes[t.fg_mask], t.boxes[t.fg_mask])
            box = (box_loss * weight).sum() / score_sum
            fg_anchor = t.fg_mask.nonzero()[:, 1]
            target_dist = boxes_to_distances(
                t.boxes[t.fg_mask], anchors[fg_anchor], strides[fg_anchor], self.reg_max
            )
            fg_dist = dist_logits[t.fg_mask].view(-1, 4, self.reg_max)
            dfl = (distribution_focal_loss(fg_dist, target_dist) * weight).sum() / score_sum
        return LossParts(self.box_gain * box, self.cls_gain * cls, self.dfl_gain * dfl,
                         positives_per_level(t.fg_mask, maps, image_hw))


def positives_per_level(fg_mask: torch.Tensor, maps: list[torch.Tensor], image_hw: tuple[int, int]):
    """{stride: foreground anchor points of the batch at that level} (anchors are in level order)."""
    counts = fg_mask.sum(0).split([m.shape[-2] * m.shape[-1] for m in maps])
    return {image_hw[0] / m.shape[-2]: c.sum() for m, c in zip(maps, counts, strict=True)}
