"""Precision, recall and F1 at one fixed confidence threshold, by hand on the PR case of test_metrics."""

import pytest
from tests.test_metrics import pr_case

from yololab.fixed_confidence import at_confidence, at_confidences


@pytest.mark.parametrize(("confidence", "precision", "recall"), [
    (0.25, 5 / 7, 1.0),  # class 0 (P 3/7, R 1), class 1 (1, 1)
    (0.5, 1.0, (0.66 + 1.0) / 2),  # class 0 (1, 0.66: the grid's last recall point below 2/3), class 1 (1, 1)
    (0.7, 0.5, 0.33),  # class 0 (1, 0.66), class 1 finds nothing (0, 0)
    (0.95, 0.0, 0.0),  # nothing at all
])
def test_precision_and_recall_at_a_fixed_confidence_by_hand(confidence, precision, recall):
    found = at_confidence(pr_case(), confidence)
    assert found["precision"] == pytest.approx(precision)
    assert found["recall"] == pytest.approx(recall)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    assert found["f1"] == pytest.approx(f1)


def test_every_threshold_is_logged_under_its_own_key():
    values = at_confidences(pr_case(), "val", (0.25, 0.5))
    assert sorted(values) == ["val/f1@0.25", "val/f1@0.5", "val/precision@0.25", "val/precision@0.5",
                              "val/recall@0.25", "val/recall@0.5"]
    assert values["val/precision@0.25"] == pytest.approx(5 / 7)
