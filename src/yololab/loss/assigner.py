"""Task-aligned assignment (TOOD): each ground-truth box takes the top-k anchor points by
alignment = score^alpha * IoU^beta among those whose centre lies inside it."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
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
    def __init__(self, topk: int = 10, alpha: float = 0.5, beta: float = 6.0, eps: float = 1e-9) -> None:
        super().__init__()
        self.topk, self.alpha, self.beta, self.eps = topk, alpha, beta, eps

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
        m = gt_boxes.shape[1]
        if m == 0:
            zeros = pred_scores.new_zeros
            return Assignment(
                zeros(b, a, dtype=torch.bool), zeros(b, a, dtype=torch.long), zeros(b, a, 4),
                zeros(b, a, c), zeros(b, a, dtype=torch.long),
            )
        candidates = self._centres_inside(anchors, gt_boxes) & gt_mask[..., None]  # [B, M, A]
        overlaps, alignment = self._alignment(pred_scores, pred_boxes, gt_labels, gt_boxes, candidates)
        positive = self._select_topk(alignment, candidates)
        gt_index, fg_mask = self._resolve_conflicts(positive, overlaps)
        positive = positive & fg_mask[:, None, :]

        batch = torch.arange(b, device=gt_boxes.device)[:, None]
        labels = gt_labels[batch, gt_index]  # [B, A]
        boxes = gt_boxes[batch, gt_index]  # [B, A, 4]
        # normalise the alignment so that each box's best anchor gets the box's best IoU as its target
        alignment = alignment * positive
        best_align = alignment.amax(dim=2, keepdim=True)
        best_overlap = (overlaps * positive).amax(dim=2, keepdim=True)
        norm = (alignment * best_overlap / (best_align + self.eps)).amax(dim=1)  # [B, A]
        scores = nn.functional.one_hot(labels, c).to(pred_scores.dtype) * (norm * fg_mask)[..., None]
        return Assignment(fg_mask, labels, boxes, scores, gt_index)

    def _centres_inside(self, anchors: torch.Tensor, gt_boxes: torch.Tensor) -> torch.Tensor:
        """Anchor points inside each box; a box too small to hold one gets its nearest anchor point, so
        that no object goes unassigned (this matters for coarse grids such as the ``fc`` head's)."""
        x1y1, x2y2 = gt_boxes[..., None, :2], gt_boxes[..., None, 2:]  # [B, M, 1, 2]
        margins = torch.cat([anchors - x1y1, x2y2 - anchors], dim=-1)  # [B, M, A, 4]
        inside = margins.amin(dim=-1) > self.eps
        centres = (gt_boxes[..., :2] + gt_boxes[..., 2:]) / 2  # [B, M, 2]
        nearest = torch.cdist(centres, anchors[None].expand(len(centres), -1, -1)).argmin(-1)  # [B, M]
        empty = ~inside.any(-1)
        inside[empty] |= torch.nn.functional.one_hot(nearest[empty], anchors.shape[0]).bool()
        return inside

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
    def _resolve_conflicts(positive: torch.Tensor, overlaps: torch.Tensor):
        """An anchor claimed by several boxes goes to the box it overlaps most. -> gt_index, fg_mask [B, A]."""
        claims = positive.sum(dim=1)  # [B, A]
        by_overlap = (overlaps * positive).argmax(dim=1)
        only_claim = positive.to(torch.uint8).argmax(dim=1)
        gt_index = torch.where(claims > 1, by_overlap, only_claim)
        return gt_index, claims > 0
