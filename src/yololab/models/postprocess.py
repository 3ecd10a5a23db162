"""From raw head maps to detections: the one decode (shared with the loss), then class-wise NMS (torchvision)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torchvision.ops import batched_nms

from yololab.box_coding import distances_to_boxes, expected_distances, flatten_maps, make_anchors


@dataclass
class DecodedMaps:
    """The head maps in anchor order: what the loss and inference both need, computed once."""

    anchors: torch.Tensor  # [A, 2] anchor points, input pixels
    strides: torch.Tensor  # [A, 1]
    dist_logits: torch.Tensor  # [B, A, 4 * reg_max] box-side distributions
    cls_logits: torch.Tensor  # [B, A, C]
    boxes: torch.Tensor  # [B, A, 4] expected boxes, xyxy input pixels


def decode(maps: list[torch.Tensor], image_hw: tuple[int, int], reg_max: int) -> DecodedMaps:
    """Raw maps (one per level, [B, 4 * reg_max + C, H, W]) of an ``image_hw`` input -> :class:`DecodedMaps`."""
    sizes = [tuple(m.shape[-2:]) for m in maps]
    anchors, strides = make_anchors(sizes, [image_hw[0] / h for h, _ in sizes], maps[0].device, torch.float32)
    flat = flatten_maps(maps).float()
    dist_logits, cls_logits = flat.split([4 * reg_max, flat.shape[-1] - 4 * reg_max], dim=-1)
    boxes = distances_to_boxes(expected_distances(dist_logits, reg_max), anchors, strides)
    return DecodedMaps(anchors, strides, dist_logits, cls_logits, boxes)


def non_max_suppression(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    conf_threshold: float = 0.25,
    iou_threshold: float = 0.7,
    max_detections: int = 300,
    max_candidates: int = 30000,
) -> list[dict[str, torch.Tensor]]:
    """Per image: every (box, class) pair above ``conf_threshold`` is a candidate; NMS within each class.

    ``boxes`` [B, A, 4] xyxy, ``scores`` [B, A, C] probabilities. Returns dicts of boxes, scores, labels.
    """
    results = []
    for img_boxes, img_scores in zip(boxes, scores, strict=True):
        anchor_idx, labels = (img_scores > conf_threshold).nonzero(as_tuple=True)
        cand_scores = img_scores[anchor_idx, labels]
        if cand_scores.numel() > max_candidates:
            cand_scores, top = cand_scores.topk(max_candidates)
            anchor_idx, labels = anchor_idx[top], labels[top]
        cand_boxes = img_boxes[anchor_idx]
        keep = batched_nms(cand_boxes, cand_scores, labels, iou_threshold)[:max_detections]
        results.append({"boxes": cand_boxes[keep], "scores": cand_scores[keep], "labels": labels[keep]})
    return results
