"""Task-aligned assignment on constructed cases, checked against targets computed by hand (the CIoU values
from torchvision, an independent implementation)."""

import math

import pytest
import torch
from torchvision.ops import complete_box_iou

from yololab.box_coding import make_anchors
from yololab.loss import TaskAlignedAssigner


def grid():
    anchors, _ = make_anchors([(4, 4)], [8])  # 32x32 image, anchors at 4, 12, 20, 28
    return anchors


def test_topk_picks_the_best_aligned_anchors_inside_the_box():
    anchors = grid()
    gt = torch.tensor([[[0.0, 0.0, 16.0, 16.0]]])
    # anchors inside the box: 0 (4,4), 1 (12,4), 4 (4,12), 5 (12,12)
    pred_boxes = torch.tensor([[0.0, 0.0, 8.0, 8.0]]).repeat(16, 1)[None].clone()
    pred_boxes[0, 0] = torch.tensor([0.0, 0.0, 16.0, 16.0])  # perfect
    pred_boxes[0, 5] = torch.tensor([1.0, 1.0, 16.0, 16.0])  # nearly perfect
    pred_boxes[0, 10] = torch.tensor([0.0, 0.0, 16.0, 16.0])  # perfect but its centre is outside the box
    scores = torch.full((1, 16, 3), 0.5)
    out = TaskAlignedAssigner(topk=2)(scores, pred_boxes, anchors, torch.tensor([[2]]), gt,
                                      torch.tensor([[True]]))
    assert out.fg_mask[0].nonzero().view(-1).tolist() == [0, 5]
    assert out.labels[0, 0] == 2 and torch.equal(out.boxes[0, 5], gt[0, 0])
    # the best-aligned anchor's target score is the box's best IoU (1.0); others scale by alignment
    assert torch.isclose(out.scores[0, 0, 2], torch.tensor(1.0))
    assert 0 < out.scores[0, 5, 2] < 1 and out.scores[0, 5, :2].abs().sum() == 0
    assert out.scores[0, 10].sum() == 0


def test_an_anchor_claimed_twice_goes_to_the_box_it_overlaps_most():
    anchors = grid()
    gt = torch.tensor([[[0.0, 0.0, 16.0, 16.0], [8.0, 8.0, 24.0, 24.0]]])
    pred_boxes = torch.tensor([[8.0, 8.0, 24.0, 24.0]]).repeat(16, 1)[None]  # matches the second box exactly
    scores = torch.full((1, 16, 2), 0.5)
    out = TaskAlignedAssigner(topk=4)(scores, pred_boxes, anchors, torch.tensor([[0, 1]]), gt,
                                      torch.tensor([[True, True]]))
    # anchor 5 at (12, 12) lies inside both boxes; its prediction overlaps box 1 fully
    assert out.fg_mask[0, 5] and out.gt_index[0, 5] == 1 and out.labels[0, 5] == 1


def test_padding_and_empty_targets_assign_nothing():
    anchors = grid()
    scores = torch.full((2, 16, 2), 0.5)
    boxes = torch.tensor([0.0, 0.0, 16.0, 16.0]).repeat(2, 16, 1)  # every prediction is the box itself
    gt = torch.tensor([[[0.0, 0.0, 16.0, 16.0]], [[0.0, 0.0, 16.0, 16.0]]])
    out = TaskAlignedAssigner()(scores, boxes, anchors, torch.zeros(2, 1, dtype=torch.long), gt,
                                torch.tensor([[True], [False]]))
    assert out.fg_mask[0].nonzero().view(-1).tolist() == [0, 1, 4, 5]  # the anchors inside the real box
    assert not out.fg_mask[1].any() and out.scores[1].sum() == 0  # the padded one
    empty = TaskAlignedAssigner()(scores, boxes, anchors, torch.zeros(2, 0, dtype=torch.long),
                                  torch.zeros(2, 0, 4), torch.zeros(2, 0, dtype=torch.bool))
    assert not empty.fg_mask.any() and empty.scores.sum() == 0


def test_point_box_predictions_align_with_nothing_and_assign_nothing():
    """All-zero predicted boxes (points at the origin): their CIoU with the box is negative, clamped to 0, so the
    box's best alignment is 0 and, as in the reference, it takes no anchor point (torchvision's CIoU is NaN here,
    which made anchors 0, 1, 4 and 5 foreground with NaN targets)."""
    anchors = grid()
    gt = torch.tensor([[[0.0, 0.0, 16.0, 16.0]]])
    out = TaskAlignedAssigner()(torch.full((1, 16, 2), 0.5), torch.zeros(1, 16, 4), anchors,
                                torch.zeros(1, 1, dtype=torch.long), gt, torch.tensor([[True]]))
    assert not out.fg_mask.any() and out.scores.sum() == 0 and torch.isfinite(out.scores).all()


FAR = [28.0, 28.0, 32.0, 32.0]  # a prediction whose CIoU with every box below is negative (clamped to 0)


def hand_targets(ciou: torch.Tensor, score: torch.Tensor, positives: list[int]) -> dict[int, float]:
    """One box's target scores, the reference rule written out: alignment = score^0.5 * CIoU^6, target =
    alignment * (best CIoU among the box's positives) / (best alignment among them)."""
    align = {a: math.sqrt(score[a]) * ciou[a] ** 6 for a in positives}
    best_overlap, best_align = max(ciou[a] for a in positives), max(align.values())
    return {a: align[a] * best_overlap / (best_align + 1e-9) for a in positives}


def test_a_contested_anchor_is_one_hot_for_its_winner_and_leaves_the_losers_normalisation():
    """Box 0 (0..16) holds anchors 0, 1, 4, 5; box 1 (8..24) holds 5, 6, 9, 10; top-4 each, so both claim
    anchor 5 (12, 12). Its prediction overlaps box 1 more (CIoU 0.61 vs 0.17): box 1 takes it, and box 0 must
    be normalised over 0, 1, 4 alone although 5 was its best-aligned anchor (the old code kept it there:
    targets 0.1683 at anchor 5, 0.058 at anchor 1)."""
    anchors = grid()
    gt = torch.tensor([[[0.0, 0, 16, 16], [8, 8, 24, 24]]])
    pred = torch.tensor([FAR] * 16)
    pred[[0, 1, 4, 5]] = torch.tensor([[0.0, 0, 6, 6], [8, 0, 16, 7], [0, 9, 7, 16], [6, 6, 22, 22]])
    pred[[6, 9, 10]] = torch.tensor([[14.0, 8, 24, 18], [8, 14, 20, 24], [9, 9, 24, 24]])
    scores = torch.full((1, 16, 2), 0.5)
    scores[0, 5, 0], scores[0, 6, 1] = 0.9, 0.3
    out = TaskAlignedAssigner(topk=4)(scores, pred[None], anchors, torch.tensor([[0, 1]]), gt,
                                      torch.tensor([[True, True]]))

    ciou = complete_box_iou(gt[0], pred).clamp(min=0)  # [2 boxes, 16 anchors]
    assert ciou[1, 5] > ciou[0, 5] > 0  # anchor 5 is contested and box 1 wins it
    owner = {0: 0, 1: 0, 4: 0, 5: 1, 6: 1, 9: 1, 10: 1}
    expected = {**hand_targets(ciou[0].tolist(), scores[0, :, 0].tolist(), [0, 1, 4]),
                **hand_targets(ciou[1].tolist(), scores[0, :, 1].tolist(), [5, 6, 9, 10])}
    assert out.fg_mask[0].nonzero().view(-1).tolist() == sorted(owner)
    for a, box in owner.items():
        assert out.gt_index[0, a] == box and out.labels[0, a] == box
        assert torch.equal(out.boxes[0, a], gt[0, box])
        assert out.scores[0, a, box].item() == pytest.approx(expected[a], rel=1e-4)
        assert out.scores[0, a, 1 - box] == 0
    assert out.scores[0, [a for a in range(16) if a not in owner]].abs().sum() == 0
    # by hand: box 1's best overlap and alignment are at anchor 10, so anchor 5 gets (c5 / c10)^6 * c10
    c5, c10 = ciou[1, 5].item(), ciou[1, 10].item()
    assert out.scores[0, 5, 1].item() == pytest.approx((c5 / c10) ** 6 * c10, rel=1e-4)
    assert out.scores[0, 5, 1].item() == pytest.approx(0.0968, abs=1e-4)


def test_a_contested_anchor_goes_to_the_containing_box_with_the_best_overlap_even_if_it_did_not_claim_it():
    """Top-1: boxes A (0..16, class 0) and B (8..24, class 1) both claim anchor 5; box C (8..16 x 8..24,
    class 2) also holds anchor 5, and anchor 5's prediction is exactly C, but C's class score there is
    low, so C claims anchor 9 instead. The reference argmax runs over every box containing the anchor:
    anchor 5 goes to C (the old code gave it to B, the better of the two claimants)."""
    anchors = grid()
    box_c = [8.0, 8, 16, 24]
    gt = torch.tensor([[[0.0, 0, 16, 16], [8, 8, 24, 24], box_c]])
    pred = torch.tensor([FAR] * 16)
    pred[[5, 9]] = torch.tensor(box_c)
    scores = torch.full((1, 16, 3), 0.01)
    scores[0, 5, :2] = 0.5
    scores[0, 9, 2] = 0.9
    out = TaskAlignedAssigner(topk=1)(scores, pred[None], anchors, torch.tensor([[0, 1, 2]]), gt,
                                      torch.tensor([[True, True, True]]))
    assert out.fg_mask[0].nonzero().view(-1).tolist() == [5, 9]
    assert out.gt_index[0, 5] == 2 and out.gt_index[0, 9] == 2 and out.labels[0, 5] == 2
    # C's positives are 5 and 9, both with CIoU 1: targets sqrt(score) / sqrt(best score)
    assert out.scores[0, 9].tolist() == pytest.approx([0.0, 0.0, 1.0], abs=1e-6)
    assert out.scores[0, 5].tolist() == pytest.approx([0.0, 0.0, math.sqrt(0.01 / 0.9)], abs=1e-6)


# three boxes between anchor points (every 8 px, at 4, 12, 20, 28), with their nearest anchor point
TINY = {0: ([1.0, 1, 3, 3], 0), 1: ([13.0, 13, 17, 18], 5), 2: ([25.0, 21, 30, 26], 11)}


def tiny_boxes(nearest_fallback: bool):
    gt = torch.tensor([[box for box, _ in TINY.values()]])
    pred = torch.tensor([[[0.0, 0, 32, 32]] * 16])  # poor predictions: alignment ~0 everywhere
    assert (complete_box_iou(gt[0], pred[0]) < 0.05).all()
    assigner = TaskAlignedAssigner(topk=10, nearest_fallback=nearest_fallback)
    return gt, assigner(torch.full((1, 16, 3), 0.5), pred, grid(), torch.tensor([[0, 1, 2]]), gt,
                        torch.ones(1, 3, dtype=torch.bool))


def test_the_nearest_fallback_gives_every_tiny_box_its_nearest_anchor_with_target_one():
    gt, out = tiny_boxes(nearest_fallback=True)
    assert out.fg_mask[0].nonzero().view(-1).tolist() == [a for _, a in TINY.values()]
    for cls, (_, a) in TINY.items():
        assert out.labels[0, a] == cls and torch.equal(out.boxes[0, a], gt[0, cls])
        assert out.scores[0, a].tolist() == [1.0 if c == cls else 0.0 for c in range(3)]
    assert out.scores.sum() == 3


def test_without_the_fallback_tiny_boxes_get_no_anchor_as_in_the_reference():
    _, out = tiny_boxes(nearest_fallback=False)
    assert not out.fg_mask.any() and out.scores.sum() == 0


def fallback(gt: list[list[float]], pred: torch.Tensor | None = None):
    boxes = torch.tensor([gt])
    pred = torch.tensor([FAR] * 16) if pred is None else pred
    n = len(gt)
    return TaskAlignedAssigner(nearest_fallback=True)(torch.full((1, 16, n), 0.5), pred[None], grid(),
                                                      torch.arange(n)[None], boxes, torch.ones(1, n, dtype=torch.bool))


def test_two_tiny_boxes_with_the_same_nearest_anchor_both_get_one():
    """Both centres, (10, 11) and (14, 14.5), are nearest anchor 5 (12, 12): the closer (2.24 vs 2.92 px) takes
    it, the other its next nearest free anchor, 9 (12, 20) at 5.85 px (6 at (20, 12) is 6.50 px away)."""
    out = fallback([[9.0, 10, 11, 12], [13, 13.5, 15, 15.5]])
    assert out.fg_mask[0].nonzero().view(-1).tolist() == [5, 9]
    assert out.gt_index[0, 5] == 0 and out.gt_index[0, 9] == 1
    assert out.scores[0, 5].tolist() == [1.0, 0.0] and out.scores[0, 9].tolist() == [0.0, 1.0]


def test_a_tiny_box_whose_nearest_anchor_a_big_box_holds_takes_the_next_free_one():
    """Anchor 5 (12, 12), the tiny box's nearest, lies inside the big box (0..16) and predicts it exactly: the big
    box keeps it (target 1: CIoU 1, best alignment); the tiny box (centre (14, 14.5)) takes anchor 9."""
    pred = torch.tensor([FAR] * 16)
    pred[5] = torch.tensor([0.0, 0, 16, 16])
    out = fallback([[0.0, 0, 16, 16], [13, 13.5, 15, 15.5]], pred)
    assert out.gt_index[0, 5] == 0 and out.scores[0, 5].tolist() == pytest.approx([1.0, 0.0])
    assert out.fg_mask[0, 9] and out.gt_index[0, 9] == 1 and out.scores[0, 9].tolist() == [0.0, 1.0]
    assert (out.gt_index[0][out.fg_mask[0]] == 1).sum() == 1


def test_the_fallback_leaves_no_box_unassigned_while_free_anchors_remain():
    """Random crowds of up to 12 small boxes on the 16 anchor points, with a big box that claims its anchors:
    every real box owns at least one anchor point."""
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        n = int(torch.randint(2, 12, (1,), generator=g))
        xy = torch.rand(n, 2, generator=g) * 28
        gt = torch.cat([xy, xy + 1 + torch.rand(n, 2, generator=g) * 4], 1)
        gt[0] = torch.tensor([0.0, 0, 16, 16])
        pred = torch.tensor([[0.0, 0, 16, 16]] * 16)
        out = fallback(gt.tolist(), pred)
        owners = set(out.gt_index[0][out.fg_mask[0]].tolist())
        assert owners == set(range(n)), (gt, owners)


def widened(box: list[float], side: float) -> list[float]:
    """The box with each side under ``side`` px widened to ``side`` about its centre."""
    out = list(box)
    for lo, hi in ((0, 2), (1, 3)):
        if box[hi] - box[lo] < side:
            centre = (box[lo] + box[hi]) / 2
            out[lo], out[hi] = centre - side / 2, centre + side / 2
    return out


@pytest.mark.parametrize("side", [0.0, 16.0, 24.0])
def test_min_candidate_side_widens_small_sides_before_choosing_candidates(side):
    """Every anchor predicts the box exactly (CIoU 1), and top-k covers all 16: the positives are exactly the
    anchor points strictly inside the box widened by hand; the target stays the box itself."""
    boxes = [[13.0, 13, 17, 18], [2.0, 9, 30, 14], [1.0, 1, 23, 3]]  # 4x5, 28x5 (one short side), 22x2
    anchors = grid()
    for box in boxes:
        region = widened(box, side)
        expected = [a for a, (x, y) in enumerate(anchors.tolist())
                    if region[0] < x < region[2] and region[1] < y < region[3]]
        gt = torch.tensor([[box]])
        out = TaskAlignedAssigner(topk=16, min_candidate_side=side)(
            torch.full((1, 16, 1), 0.5), gt.expand(1, 16, 4), anchors, torch.zeros(1, 1, dtype=torch.long), gt,
            torch.tensor([[True]]))
        assert out.fg_mask[0].nonzero().view(-1).tolist() == expected
        assert (out.boxes[0][out.fg_mask[0]] == gt[0]).all()
        by_hand = {0.0: [[], [4, 5, 6, 7], []],  # regions (7, 7.5, 23, 23.5), (2, 3.5, 30, 19.5), (1, -6, 23, 10):
                   16.0: [[5, 6, 9, 10], list(range(8)), [0, 1, 2]]}
        if side in by_hand:
            assert expected == by_hand[side][boxes.index(box)]
