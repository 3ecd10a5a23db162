"""An independent re-implementation of the YOLOv8 loss for small fixed cases, to check yololab's against.

Everything is written out from its definition in float64 Python, anchor by anchor and box by box, with no
yololab or torchvision code: the decode (expected bin per side), CIoU (the aspect angle as ``atan2(w, h)``,
which is 0 for a point box), the task-aligned assignment (TOOD's metric, top-k among the anchor points inside a
box, a contested anchor to the containing box of highest CIoU, targets normalised by each box's best CIoU),
BCE, and the distribution focal loss.
"""

from __future__ import annotations

import math

import numpy as np

EPS = 1e-9  # the assigner's


def anchor_points(map_sizes: list[tuple[int, int]], image_hw: tuple[int, int]) -> list[tuple[float, float, float]]:
    """(x, y, stride) of each cell centre, level by level, row by row."""
    points = []
    for h, w in map_sizes:
        s = image_hw[0] / h
        points += [((col + 0.5) * s, (row + 0.5) * s, s) for row in range(h) for col in range(w)]
    return points


def softmax(values: list[float]) -> list[float]:
    top = max(values)
    e = [math.exp(v - top) for v in values]
    return [v / sum(e) for v in e]


def decode_box(dist_logits: list[float], point: tuple[float, float, float], reg_max: int) -> list[float]:
    """The expected box, its corners rounded to float32 as the detector's are (a side of 2e-6 px next to a
    coordinate of 100 vanishes there: the decode's point boxes are a float32 effect)."""
    x, y, s = point
    d = [sum(k * p for k, p in enumerate(softmax(dist_logits[i * reg_max:(i + 1) * reg_max]))) for i in range(4)]
    return [float(np.float32(v)) for v in (x - d[0] * s, y - d[1] * s, x + d[2] * s, y + d[3] * s)]


def ciou(p: list[float], q: list[float]) -> float:
    w1, h1, w2, h2 = p[2] - p[0], p[3] - p[1], q[2] - q[0], q[3] - q[1]
    inter = max(0.0, min(p[2], q[2]) - max(p[0], q[0])) * max(0.0, min(p[3], q[3]) - max(p[1], q[1]))
    union = w1 * h1 + w2 * h2 - inter
    iou = inter / union if union > 0 else 0.0
    c2 = (max(p[2], q[2]) - min(p[0], q[0])) ** 2 + (max(p[3], q[3]) - min(p[1], q[1])) ** 2
    rho2 = ((p[0] + p[2] - q[0] - q[2]) / 2) ** 2 + ((p[1] + p[3] - q[1] - q[3]) / 2) ** 2
    v = 4 / math.pi**2 * (math.atan2(w2, h2) - math.atan2(w1, h1)) ** 2
    alpha = v / (1 - iou + v) if v > 0 else 0.0
    return iou - rho2 / c2 - alpha * v


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def assign(probs, boxes, points, gts, topk: int, alpha: float = 0.5, beta: float = 6.0,
           nearest_fallback: bool = False) -> tuple[dict[int, tuple[int, float]], list[int]]:
    """One image: {anchor index: (box index, target score)} for the positive anchors, and the anchors claimed by
    several boxes. ``gts``: [(class, box)]."""
    inside = [[a for a, (x, y, _) in enumerate(points) if g[0] < x < g[2] and g[1] < y < g[3]] for _, g in gts]
    overlap = [{a: max(ciou(g, boxes[a]), 0.0) for a in inside[m]} for m, (_, g) in enumerate(gts)]
    align = [{a: probs[a][c] ** alpha * overlap[m][a] ** beta for a in inside[m]} for m, (c, _) in enumerate(gts)]
    claims = {}
    for m in range(len(gts)):
        ranked = sorted((a for a in inside[m] if align[m][a] > 0), key=lambda a: -align[m][a])
        if len(ranked) < topk and len(ranked) < len(inside[m]):
            raise ValueError(f"box {m}: top-{topk} would pick among anchors of zero alignment (not covered)")
        if ranked and align[m][ranked[0]] > EPS:
            for a in ranked[:topk]:
                claims.setdefault(a, []).append(m)
    owner = {}
    for a, ms in claims.items():  # a contested anchor goes to the containing box of highest overlap
        owner[a] = ms[0] if len(ms) == 1 else max(range(len(gts)), key=lambda m: (overlap[m].get(a, 0.0), -m))
    out = {}
    for m in range(len(gts)):
        mine = [a for a, o in owner.items() if o == m]
        if mine:
            best_overlap, best_align = max(overlap[m][a] for a in mine), max(align[m][a] for a in mine)
            out.update({a: (m, align[m][a] * best_overlap / (best_align + EPS)) for a in mine})
    if nearest_fallback:
        out.update(nearest_free(points, gts, out))
    return out, sorted(a for a, ms in claims.items() if len(ms) > 1)


def nearest_free(points, gts, taken: dict) -> dict[int, tuple[int, float]]:
    """Each box without an anchor takes the free anchor nearest its centre (closest pairs first), target 1."""
    orphans = [m for m in range(len(gts)) if m not in {o for o, _ in taken.values()}]
    pairs = sorted((math.dist(((g[0] + g[2]) / 2, (g[1] + g[3]) / 2), points[a][:2]), m, a)
                   for m in orphans for a in range(len(points)) for g in [gts[m][1]])
    out = {}
    for _, m, a in pairs:
        if m not in {o for o, _ in out.values()} and a not in taken and a not in out:
            out[a] = (m, 1.0)
    return out


def bce(x: float, t: float) -> float:
    return max(x, 0.0) - x * t + math.log1p(math.exp(-abs(x)))


def dfl(dist_logits: list[float], target: list[float], reg_max: int) -> float:
    total = 0.0
    for i, t in enumerate(target):
        logp = [math.log(p) for p in softmax(dist_logits[i * reg_max:(i + 1) * reg_max])]
        left = math.floor(t)
        total -= (left + 1 - t) * logp[left] + (t - left) * logp[left + 1]
    return total / 4


def reference_loss(maps, targets, image_hw, reg_max: int = 16, topk: int = 10, nearest_fallback: bool = False,
                   gains=(7.5, 0.5, 1.5)) -> dict[str, float]:
    """``maps``: per level [B, 4 * reg_max + C, H, W] tensors; ``targets``: rows (image, class, x1, y1, x2, y2).
    Returns the weighted terms ``box``, ``cls``, ``dfl`` and per image the assignment (``positive``: {anchor:
    (box, target)}, ``contested``: anchors claimed by several boxes) and the decoded ``boxes``."""
    points = anchor_points([tuple(m.shape[-2:]) for m in maps], image_hw)
    cls_sum = box_sum = dfl_sum = score_sum = 0.0
    assignments = []
    for i in range(maps[0].shape[0]):
        rows = [r for m in maps for r in m[i].double().flatten(1).T.tolist()]  # per anchor: its logits
        dists, logits = [r[:4 * reg_max] for r in rows], [r[4 * reg_max:] for r in rows]
        boxes = [decode_box(d, p, reg_max) for d, p in zip(dists, points, strict=True)]
        probs = [[sigmoid(x) for x in row] for row in logits]
        gts = [(int(r[1]), [float(v) for v in r[2:6]]) for r in targets.tolist() if int(r[0]) == i]
        positive, contested = assign(probs, boxes, points, gts, topk, nearest_fallback=nearest_fallback)
        assignments.append({"positive": positive, "contested": contested, "boxes": boxes})
        for a, row in enumerate(logits):
            m, score = positive.get(a, (None, 0.0))
            cls_sum += sum(bce(x, score if m is not None and c == gts[m][0] else 0.0) for c, x in enumerate(row))
            if m is None:
                continue
            score_sum += score
            g, (x, y, s) = gts[m][1], points[a]
            box_sum += (1 - ciou(boxes[a], g)) * score
            target = [min(max(d / s, 0.0), reg_max - 1 - 0.01) for d in (x - g[0], y - g[1], g[2] - x, g[3] - y)]
            dfl_sum += dfl(dists[a], target, reg_max) * score
    norm = max(score_sum, 1.0)
    return {"box": gains[0] * box_sum / norm, "cls": gains[1] * cls_sum / norm, "dfl": gains[2] * dfl_sum / norm,
            "assignments": assignments}
