"""Complete IoU (CIoU) per box pair, finite for boxes of zero width or height.

torchvision's CIoU divides width by height for the aspect term, so a box of zero height (the decode gives a
point box when bin 0 of every side leads by ~20 logits) makes it NaN, and with it the assigner's targets and
every loss term. Such pairs take the reference's rule instead: the aspect ratio is ``w / (h + eps)``; their
IoU is exactly 0 (a box of zero area intersects nothing), so only DIoU's centre term and the aspect term remain.
"""

from __future__ import annotations

import math

import torch
from torchvision.ops import complete_box_iou_loss, distance_box_iou_loss

EPS = 1e-7  # torchvision's and the reference's


def ciou_loss(boxes1: torch.Tensor, boxes2: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """1 - CIoU of each pair of xyxy boxes ([N, 4] each -> [N]): torchvision's where both boxes have a positive
    width and height, the finite rule above where one does not (computed on those rows alone, so that no NaN
    reaches the gradient either)."""
    sides = torch.cat([boxes1[:, 2:] - boxes1[:, :2], boxes2[:, 2:] - boxes2[:, :2]], 1)
    proper = (sides > 0).all(1)
    if proper.all():
        return complete_box_iou_loss(boxes1, boxes2, reduction="none", eps=eps)
    loss = boxes1.new_empty(len(boxes1), dtype=torch.promote_types(boxes1.dtype, boxes2.dtype))
    loss[proper] = complete_box_iou_loss(boxes1[proper], boxes2[proper], reduction="none", eps=eps)
    flat = ~proper
    a, b = boxes1[flat], boxes2[flat]
    v = (4 / math.pi**2) * (_aspect(b, eps) - _aspect(a, eps)) ** 2
    with torch.no_grad():
        alpha = v / (1 + v + eps)  # 1 - IoU + v with IoU = 0
    loss[flat] = distance_box_iou_loss(a, b, reduction="none", eps=eps) + alpha * v
    return loss


def _aspect(boxes: torch.Tensor, eps: float) -> torch.Tensor:
    return torch.atan((boxes[:, 2] - boxes[:, 0]) / (boxes[:, 3] - boxes[:, 1] + eps))
