"""Task-aligned assignment on constructed cases."""

import torch

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
    boxes = torch.zeros(2, 16, 4)
    gt = torch.tensor([[[0.0, 0.0, 16.0, 16.0]], [[0.0, 0.0, 16.0, 16.0]]])
    out = TaskAlignedAssigner()(scores, boxes, anchors, torch.zeros(2, 1, dtype=torch.long), gt,
                                torch.tensor([[True], [False]]))
    assert out.fg_mask[0].any() and not out.fg_mask[1].any()
    empty = TaskAlignedAssigner()(scores, boxes, anchors, torch.zeros(2, 0, dtype=torch.long),
                                  torch.zeros(2, 0, 4), torch.zeros(2, 0, dtype=torch.bool))
    assert not empty.fg_mask.any() and empty.scores.sum() == 0


def test_a_box_too_small_to_hold_an_anchor_gets_its_nearest_one():
    anchors = grid()  # anchor points every 8 px, at 4, 12, 20, 28
    gt = torch.tensor([[[13.0, 13.0, 17.0, 18.0]]])  # 4x5 px, between anchor points; centre (15, 15.5)
    pred_boxes = gt.repeat(1, 16, 1)
    args = (torch.full((1, 16, 1), 0.5), pred_boxes, anchors, torch.tensor([[0]]), gt, torch.tensor([[True]]))
    out = TaskAlignedAssigner(topk=10, nearest_fallback=True)(*args)
    assert out.fg_mask[0].nonzero().view(-1).tolist() == [5]  # (12, 12) is the closest of (12|20, 12|20)
    assert out.scores[0, 5, 0] == 1.0
    assert not TaskAlignedAssigner(topk=10)(*args).fg_mask.any()  # the reference assigns it nothing
