"""Anchor points and the distribution-focal box coding shared by the decoder and the loss.

A prediction map of stride s has one anchor point at the centre of each cell. A box is coded as
its distances (left, top, right, bottom) from the anchor point in units of s, each distance as a
discrete distribution over ``reg_max`` bins whose expectation is the distance.
"""

from __future__ import annotations

import torch


def make_anchors(
    map_sizes: list[tuple[int, int]], strides: list[float], device=None, dtype=torch.float32
) -> tuple[torch.Tensor, torch.Tensor]:
    """Anchor points in pixels [A, 2] (x, y) and their strides [A, 1], level by level, row-major."""
    points, point_strides = [], []
    for (h, w), s in zip(map_sizes, strides, strict=True):
        ys = (torch.arange(h, device=device, dtype=dtype) + 0.5) * s
        xs = (torch.arange(w, device=device, dtype=dtype) + 0.5) * s
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        points.append(torch.stack([gx, gy], -1).reshape(-1, 2))
        point_strides.append(torch.full((h * w, 1), float(s), device=device, dtype=dtype))
    return torch.cat(points), torch.cat(point_strides)


def flatten_maps(maps: list[torch.Tensor]) -> torch.Tensor:
    """Per-level maps [B, C, H, W] -> one tensor [B, A, C] in anchor order."""
    return torch.cat([m.flatten(2) for m in maps], dim=2).transpose(1, 2)


def expected_distances(dist_logits: torch.Tensor, reg_max: int) -> torch.Tensor:
    """[..., 4 * reg_max] bin logits -> [..., 4] expected distances (in stride units)."""
    probs = dist_logits.unflatten(-1, (4, reg_max)).softmax(-1)
    bins = torch.arange(reg_max, device=dist_logits.device, dtype=probs.dtype)
    return probs @ bins


def distances_to_boxes(distances: torch.Tensor, anchors: torch.Tensor, strides: torch.Tensor) -> torch.Tensor:
    """ltrb distances in stride units -> xyxy boxes in pixels."""
    lt, rb = (distances * strides).chunk(2, dim=-1)
    return torch.cat([anchors - lt, anchors + rb], dim=-1)


def boxes_to_distances(boxes: torch.Tensor, anchors: torch.Tensor, strides: torch.Tensor, reg_max: int):
    """xyxy pixel boxes -> ltrb distances in stride units, clipped to the last bin's range."""
    x1y1, x2y2 = boxes.chunk(2, dim=-1)
    dist = torch.cat([anchors - x1y1, x2y2 - anchors], dim=-1) / strides
    return dist.clamp(0, reg_max - 1 - 0.01)
