"""Task-aligned assignment (TOOD, as YOLOv8 uses it): each ground-truth box takes the top-k anchor
points by alignment = score^alpha * CIoU^beta among those whose centre lies inside it."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from yololab.loss.ciou import ciou_loss


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
    """The reference task-aligned assigner: YOLOv8's as ultralytics 8.0–8.3 define it ("the reference" below).

    A box whose best alignment is at most ``eps`` takes no anchor point. An anchor point claimed by several
    boxes goes to the box whose (clamped) CIoU with the anchor's prediction is highest among all boxes
    containing the anchor point; the other boxes lose it, and every target is computed from that one-hot
    assignment.

    ``min_candidate_side`` (0, the reference's rule, by default): box sides shorter than this many pixels are
    widened to it, about the box centre, when the candidate anchor points are chosen (the box itself stays the
    target). 16 gives the rule of ultralytics 8.4, which lets a box smaller than a cell on a coarse level reach
    the anchor points around it.

    ``nearest_fallback`` (off by default, so that the loss equals the reference's): a box left without any
    anchor point after the assignment above (a box holding none, such as a small box on the ``fc`` head's
    coarse grid, or one that lost all its anchors to other boxes or aligns with none) is given the free anchor
    point nearest its centre, with a hard class target of 1 (YOLOv3's "responsible cell" rule). Free means
    positive for no box; such boxes take theirs closest pair first. So no real box goes unassigned while its
    image has a free anchor point left.
    """

    def __init__(self, topk: int = 10, alpha: float = 0.5, beta: float = 6.0, eps: float = 1e-9,
                 nearest_fallback: bool = False, min_candidate_side: float = 0.0) -> None:
        super().__init__()
        self.topk, self.alpha, self.beta, self.eps = topk, alpha, beta, eps
        self.nearest_fallback, self.min_candidate_side = nearest_fallback, min_candidate_side

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
        candidates = self._centres_inside(anchors, self._candidate_regions(gt_boxes)) & gt_mask[..., None]
        overlaps, alignment = self._alignment(pred_scores, pred_boxes, gt_labels, gt_boxes, candidates)
        positive = self._select_topk(alignment, candidates)
        positive = self._resolve_conflicts(positive, overlaps)  # one-hot over boxes per anchor
        # normalise the alignment so that each box's best anchor gets the box's best IoU as its target
        alignment = alignment * positive
        best_align = alignment.amax(dim=2, keepdim=True)
        best_overlap = (overlaps * positive).amax(dim=2, keepdim=True)
        norm = (alignment * best_overlap / (best_align + self.eps)).amax(dim=1)  # [B, A]
        fallback = self._nearest_free(anchors, gt_boxes, gt_mask, positive)
        positive = positive | fallback
        norm = torch.where(fallback.any(dim=1), torch.ones_like(norm), norm)

        fg_mask = positive.any(dim=1)
        gt_index = positive.to(torch.uint8).argmax(dim=1)
        batch = torch.arange(b, device=gt_boxes.device)[:, None]
        labels = gt_labels[batch, gt_index]  # [B, A]
        boxes = gt_boxes[batch, gt_index]  # [B, A, 4]
        scores = F.one_hot(labels, c).to(pred_scores.dtype) * (norm * fg_mask)[..., None]
        return Assignment(fg_mask, labels, boxes, scores, gt_index)

    def _candidate_regions(self, gt_boxes: torch.Tensor) -> torch.Tensor:
        """The boxes as they choose candidate anchors: each side under ``min_candidate_side`` widened to it about
        the box centre; longer sides keep their exact coordinates."""
        if self.min_candidate_side <= 0:
            return gt_boxes
        x1y1, x2y2 = gt_boxes[..., :2], gt_boxes[..., 2:]
        centre, short = (x1y1 + x2y2) / 2, (x2y2 - x1y1) < self.min_candidate_side
        half = self.min_candidate_side / 2
        return torch.cat([torch.where(short, centre - half, x1y1), torch.where(short, centre + half, x2y2)], -1)

    def _centres_inside(self, anchors: torch.Tensor, regions: torch.Tensor) -> torch.Tensor:
        """[B, M, A]: the anchor point lies strictly inside the region."""
        x1y1, x2y2 = regions[..., None, :2], regions[..., None, 2:]  # [B, M, 1, 2]
        margins = torch.cat([anchors - x1y1, x2y2 - anchors], dim=-1)  # [B, M, A, 4]
        return margins.amin(dim=-1) > self.eps

    def _alignment(self, pred_scores, pred_boxes, gt_labels, gt_boxes, candidates):
        """CIoU (clamped at 0) and alignment metric for candidate pairs; zero elsewhere. [B, M, A] each."""
        bi, mi, ai = candidates.nonzero(as_tuple=True)
        overlaps = torch.zeros(candidates.shape, dtype=pred_boxes.dtype, device=pred_boxes.device)
        scores = torch.zeros_like(overlaps)
        ciou = 1.0 - ciou_loss(gt_boxes[bi, mi], pred_boxes[bi, ai])
        overlaps[bi, mi, ai] = ciou.clamp(min=0).to(overlaps.dtype)
        scores[bi, mi, ai] = pred_scores[bi, ai, gt_labels[bi, mi]].to(scores.dtype)
        return overlaps, scores.pow(self.alpha) * overlaps.pow(self.beta)

    def _select_topk(self, alignment: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        """Each box's top-k candidates by alignment; none for a box whose best alignment is at most ``eps``."""
        k = min(self.topk, alignment.shape[-1])
        top = alignment.topk(k, dim=-1).indices  # [B, M, k]
        chosen = torch.zeros_like(candidates).scatter_(-1, top, True)
        return chosen & candidates & (alignment.amax(dim=-1, keepdim=True) > self.eps)

    @staticmethod
    def _resolve_conflicts(positive: torch.Tensor, overlaps: torch.Tensor) -> torch.Tensor:
        """An anchor claimed by several boxes goes to the box with the highest overlap among all boxes
        that contain it (the argmax runs over every box, claiming or not, as in the reference)."""
        contested = positive.sum(dim=1, keepdim=True) > 1  # [B, 1, A]
        winner = F.one_hot(overlaps.argmax(dim=1), overlaps.shape[1]).transpose(1, 2).bool()  # [B, M, A]
        return torch.where(contested, winner, positive)

    def _nearest_free(self, anchors, gt_boxes, gt_mask, positive) -> torch.Tensor:
        """[B, M, A]: each real box without a positive, paired with the free anchor point nearest its centre,
        closest pairs first (all False unless ``nearest_fallback``)."""
        fallback = torch.zeros_like(positive)
        orphans = gt_mask & ~positive.any(dim=-1)  # [B, M]
        if not self.nearest_fallback or not orphans.any():
            return fallback
        centres = (gt_boxes[..., :2] + gt_boxes[..., 2:]) / 2  # [B, M, 2]
        taken = positive.any(dim=1)  # [B, A]
        for i in orphans.any(dim=1).nonzero().view(-1).tolist():
            dist = torch.cdist(centres[i], anchors).masked_fill(taken[i], torch.inf)
            dist = dist.masked_fill(~orphans[i, :, None], torch.inf)  # [M, A]
            for _ in range(int(orphans[i].sum())):
                m, a = divmod(int(dist.argmin()), dist.shape[1])
                if not torch.isfinite(dist[m, a]):
                    break  # no free anchor point left
                fallback[i, m, a] = True
                dist[m], dist[:, a] = torch.inf, torch.inf
        return fallback
