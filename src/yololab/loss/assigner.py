"""Task-aligned assignment (TOOD, as YOLOv8 uses it): each ground-truth box takes the top-k anchor
points by alignment = score^alpha * IoU^beta among those whose centre lies inside it."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from torchvision.ops import complete_box_iou_loss


@dataclass
class Assignment:
    """Targets per anchor point: ``fg_mask`` [B, A], ``labels`` [B, A], ``boxes`` [B, A, 4],
    ``scores`` [B, A, C] (one-hot class times the normalised alignment), ``gt_index`` [B, A]."""

    fg_mask: torch.Tensor
    labels: torch.Tensor
    boxes: torch.Tensor
    scores: torch.Tensor
    gt_index: torch.Tensor


class TaskAlignedAssigner(nn.Module):
    """The reference task-aligned assigner.

    An anchor point claimed by several boxes goes to the box whose (clamped) CIoU with the anchor's
    prediction is highest among all boxes containing the anchor point; the other boxes lose it, and
    every target is computed from that one-hot assignment.

    ``nearest_fallback`` (off by default, so that the loss equals the reference's): a box that holds
    no anchor point (small boxes on a coarse grid, such as the ``fc`` head's) is given its nearest
    anchor point as a positive with a hard class target of 1 (YOLOv3's "responsible cell" rule),
    because its alignment, and so its normalised target, is usually 0 there.
    """

    def __init__(self, topk: int = 10, alpha: float = 0.5, beta: float = 6.0, eps: float = 1e-9,
                 nearest_fallback: bool = False) -> None:
        super().__init__()
        self.topk, self.alpha, self.beta, self.eps = topk, alpha, beta, eps
        self.nearest_fallback = nearest_fallback

    @torch.no_grad()
    def forward(
        self,
        pred_scores: torch.Tensor,
        pred_boxes: torch.Tensor,
        anchors: torch.Tensor,
        gt_labels: torch.Tensor,
        gt_boxes: torch.Tensor,
        gt_mask: torch.Tensor,
    ) -> Assignment:
        """pred_scores [B, A, C] (probabilities), pred_boxes [B, A, 4] and gt_boxes [B, M, 4] xyxy in
        pixels, anchors [A, 2], gt_labels [B, M] long, gt_mask [B, M] bool (real boxes, not padding)."""
        b, a, c = pred_scores.shape
        if gt_boxes.shape[1] == 0:
            zeros = pred_scores.new_zeros
            return Assignment(
                zeros(b, a, dtype=torch.bool), zeros(b, a, dtype=torch.long), zeros(b, a, 4),
                zeros(b, a, c), zeros(b, a, dtype=torch.long),
            )
        inside = self._centres_inside(anchors, gt_boxes) & gt_mask[..., None]  # [B, M, A]
        fallback = self._nearest_for_empty(anchors, gt_boxes, inside) & gt_mask[..., None]
        candidates = inside | fallback
        overlaps, alignment = self._alignment(pred_scores, pred_boxes, gt_labels, gt_boxes, candidates)
        positive = self._select_topk(alignment, candidates) | fallback
        positive = self._resolve_conflicts(positive, overlaps)  # one-hot over boxes per anchor
        fg_mask = positive.any(dim=1)
        gt_index = positive.to(torch.uint8).argmax(dim=1)

        batch = torch.arange(b, device=gt_boxes.device)[:, None]
        labels = gt_labels[batch, gt_index]  # [B, A]
        boxes = gt_boxes[batch, gt_index]  # [B, A, 4]
        # normalise the alignment so that each box's best anchor gets the box's best IoU as its target
        alignment = alignment * positive
        best_align = alignment.amax(dim=2, keepdim=True)
        best_overlap = (overlaps * positive).amax(dim=2, keepdim=True)
        norm = (alignment * best_overlap / (best_align + self.eps)).amax(dim=1)  # [B, A]
        norm = torch.where((positive & fallback).any(dim=1), torch.ones_like(norm), norm)
        scores = F.one_hot(labels, c).to(pred_scores.dtype) * (norm * fg_mask)[..., None]
        return Assignment(fg_mask, labels, boxes, scores, gt_index)

    def _centres_inside(self, anchors: torch.Tensor, gt_boxes: torch.Tensor) -> torch.Tensor:
        """[B, M, A]: the anchor point lies strictly inside the box."""
        x1y1, x2y2 = gt_boxes[..., None, :2], gt_boxes[..., None, 2:]  # [B, M, 1, 2]
        margins = torch.cat([anchors - x1y1, x2y2 - anchors], dim=-1)  # [B, M, A, 4]
        return margins.amin(dim=-1) > self.eps

    def _nearest_for_empty(self, anchors: torch.Tensor, gt_boxes: torch.Tensor, inside: torch.Tensor):
        """[B, M, A]: each box holding no anchor point, paired with the anchor point nearest its centre
        (all False unless ``nearest_fallback``)."""
        if not self.nearest_fallback:
            return torch.zeros_like(inside)
        centres = (gt_boxes[..., :2] + gt_boxes[..., 2:]) / 2  # [B, M, 2]
        nearest = torch.cdist(centres, anchors[None].expand(len(centres), -1, -1)).argmin(-1)  # [B, M]
        return F.one_hot(nearest, anchors.shape[0]).bool() & ~inside.any(-1, keepdim=True)

    def _alignment(self, pred_scores, pred_boxes, gt_labels, gt_boxes, candidates):
        """CIoU (clamped at 0) and alignment metric for candidate pairs; zero elsewhere. [B, M, A] each."""
        bi, mi, ai = candidates.nonzero(as_tuple=True)
        overlaps = torch.zeros(candidates.shape, dtype=pred_boxes.dtype, device=pred_boxes.device)
        scores = torch.zeros_like(overlaps)
        ciou = 1.0 - complete_box_iou_loss(gt_boxes[bi, mi], pred_boxes[bi, ai], reduction="none")
        overlaps[bi, mi, ai] = ciou.clamp(min=0).to(overlaps.dtype)
        scores[bi, mi, ai] = pred_scores[bi, ai, gt_labels[bi, mi]].to(scores.dtype)
        return overlaps, scores.pow(self.alpha) * overlaps.pow(self.beta)

    def _select_topk(self, alignment: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        k = min(self.topk, alignment.shape[-1])
        top = alignment.topk(k, dim=-1).indices  # [B, M, k]
        chosen = torch.zeros_like(candidates).scatter_(-1, top, True)
        return chosen & candidates

    @staticmethod
    def _resolve_conflicts(positive: torch.Tensor, overlaps: torch.Tensor) -> torch.Tensor:
        """An anchor claimed by several boxes goes to the box with the highest overlap among all boxes
        that contain it (the argmax runs over every box, claiming or not, as in the reference)."""
        contested = positive.sum(dim=1, keepdim=True) > 1  # [B, 1, A]
        winner = F.one_hot(overlaps.argmax(dim=1), overlaps.shape[1]).transpose(1, 2).bool()  # [B, M, A]
        return torch.where(contested, winner, positive)
