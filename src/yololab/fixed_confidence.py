"""Precision, recall and F1 at fixed confidence thresholds, the same for every run of a study (unlike
``val/precision`` and ``val/recall``, taken at each run's own best-F1 threshold, which moves them against each
other by construction). Logged as ``{prefix}/precision@c``, ``{prefix}/recall@c`` and ``{prefix}/f1@c`` for every
c in the module's ``pr_confidences``.

The rule is :func:`yololab.metrics.best_f1`'s at one threshold: at confidence c a class reaches the largest recall
whose score threshold is >= c, with COCO's interpolated precision there (IoU 0.5, all areas, 100 detections);
a class without detections at c counts as precision 0 and recall 0; classes without ground truth are left out.
P and R are the means over the classes, F1 = 2PR / (P + R).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from yololab.metrics import pr_curves


def at_confidence(result: dict, confidence: float) -> dict[str, float]:
    recall, precision, scores = pr_curves(result)
    p_rows, r_rows = [], []
    for cls, p in precision.items():
        if not (p > -1).any():
            continue
        reached = (scores[cls] >= confidence) & (p > -1)
        last = len(reached) - 1 - int(np.argmax(reached[::-1])) if reached.any() else -1
        p_rows.append(float(p[last]) if last >= 0 else 0.0)
        r_rows.append(float(recall[last]) if last >= 0 else 0.0)
    if not p_rows:
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    p_mean, r_mean = float(np.mean(p_rows)), float(np.mean(r_rows))
    f1 = 2 * p_mean * r_mean / (p_mean + r_mean) if p_mean + r_mean > 0 else 0.0
    return {"precision": p_mean, "recall": r_mean, "f1": f1}


def at_confidences(result: dict, prefix: str, confidences: Iterable[float]) -> dict[str, float]:
    """``{prefix}/precision@c``, ``{prefix}/recall@c``, ``{prefix}/f1@c`` for every c."""
    return {f"{prefix}/{name}@{c:g}": value for c in confidences for name, value in at_confidence(result, c).items()}
