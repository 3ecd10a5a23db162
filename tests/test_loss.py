"""The detection loss: known values, empty batches, and that it can be driven down."""

import math
from functools import partial

import pytest
import torch
from tests.loss_reference import ciou, reference_loss
from torchvision.ops import complete_box_iou_loss

from yololab.loss import DetectionLoss, TaskAlignedAssigner
from yololab.loss.ciou import ciou_loss
from yololab.loss.detection_loss import distribution_focal_loss, pad_targets
from yololab.models.backbone import CSPDarknet
from yololab.models.detector import YOLODetector
from yololab.models.heads import ConvHead
from yololab.models.neck import PAN
from yololab.models.postprocess import decode


def test_dfl_of_uniform_bins_is_log_of_bin_count():
    loss = distribution_focal_loss(torch.zeros(3, 4, 16), torch.tensor([[0.0, 2.5, 7.25, 14.99]] * 3))
    assert torch.allclose(loss, torch.full((3,), math.log(16)), atol=1e-5)


def test_dfl_with_the_mass_split_between_the_two_bins_is_their_entropy():
    logits = torch.full((1, 4, 16), -1e4)
    logits[0, :, 2] = logits[0, :, 3] = 0.0  # mass 0.5 / 0.5 on bins 2 and 3
    loss = distribution_focal_loss(logits, torch.full((1, 4), 2.5))
    assert torch.allclose(loss, torch.full((1,), math.log(2)), atol=1e-5)  # the entropy of (0.5, 0.5)


def test_dfl_with_asymmetric_targets_weights_the_nearer_bin_more():
    """Target 2.3 is 0.7 of bin 2 plus 0.3 of bin 3: the loss is -(0.7 log p2 + 0.3 log p3), by hand from a
    log-softmax, averaged over the four sides. Swapping the two weights changes every term."""
    logits = torch.randn(2, 4, 16, generator=torch.Generator().manual_seed(0)) * 3
    target = torch.tensor([[2.3, 0.75, 5.1, 14.6], [7.9, 3.0, 0.2, 12.45]])
    logp = torch.log_softmax(logits.double(), -1)
    expected = torch.zeros(2)
    for n in range(2):
        for side in range(4):
            t = target[n, side].item()
            left = math.floor(t)
            w_right = t - left
            expected[n] += -((1 - w_right) * logp[n, side, left] + w_right * logp[n, side, left + 1]) / 4
    assert torch.allclose(distribution_focal_loss(logits, target), expected, atol=1e-5)
    # target 2.3 alone, with the weights written out
    one = distribution_focal_loss(logits[:1, :1].repeat(1, 4, 1), torch.full((1, 4), 2.3))
    assert one.item() == pytest.approx(-(0.7 * logp[0, 0, 2] + 0.3 * logp[0, 0, 3]).item(), abs=1e-5)


def test_pad_targets_groups_rows_by_image():
    t = torch.tensor([[1, 2, 0, 0, 4, 4], [0, 1, 1, 1, 2, 2], [1, 0, 5, 5, 6, 6]], dtype=torch.float)
    labels, boxes, mask = pad_targets(t, 3)
    assert mask.tolist() == [[True, False], [True, True], [False, False]]
    assert labels[1].tolist() == [2, 0] and boxes[1, 1].tolist() == [5, 5, 6, 6]


def tiny_detector(nc: int = 3) -> YOLODetector:
    torch.manual_seed(0)
    return YOLODetector(partial(CSPDarknet, 0.33, 0.125), partial(PAN, depth_multiple=0.33), partial(ConvHead), nc)


def test_loss_on_empty_targets_is_classification_only():
    model = tiny_detector()
    parts = DetectionLoss(3)(model(torch.rand(2, 3, 64, 64)), torch.zeros(0, 6), (64, 64))
    assert parts.box == 0 and parts.dfl == 0 and parts.cls > 0 and torch.isfinite(parts.total)


def test_loss_falls_when_fitting_one_batch():
    model = tiny_detector()
    loss_fn = DetectionLoss(3)
    images = torch.rand(2, 3, 96, 96)
    targets = torch.tensor([[0, 0, 10, 10, 50, 60], [0, 2, 60, 20, 90, 50], [1, 1, 30, 30, 80, 90]], dtype=torch.float)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    history = []
    for _ in range(40):
        parts = loss_fn(model(images), targets, (96, 96))
        (parts.total * 2).backward()
        opt.step()
        opt.zero_grad()
        history.append([parts.total.item(), parts.box.item(), parts.cls.item(), parts.dfl.item()])
    first, last = history[0], history[-1]
    assert last[0] < 0.3 * first[0]
    assert all(late < early for early, late in zip(first[1:], last[1:], strict=True))


def test_ciou_loss_is_torchvisions_for_proper_boxes_and_the_references_for_flat_ones():
    gt = torch.tensor([[10.0, 10, 30, 40]] * 5)
    pred = torch.tensor([[12.0, 8, 33, 35], [20, 25, 20, 25], [5, 15, 25, 15], [18, 5, 18, 9], [0, 0, 0, 0]])
    loss = ciou_loss(pred, gt)
    assert loss[0] == complete_box_iou_loss(pred[:1], gt[:1])[0]
    expected = [1 - ciou(p, g) for p, g in zip(pred.tolist(), gt.tolist(), strict=True)]
    assert loss.tolist() == pytest.approx(expected, rel=1e-6)
    v = 4 / math.pi**2 * math.atan(20 / 30) ** 2  # a point at the box centre: IoU 0, no distance, aspect 0
    assert loss[1].item() == pytest.approx(1 + v / (1 + v) * v)


def random_maps(sizes: list[int], seed: int, batch: int = 2, nc: int = 3, reg_max: int = 16) -> list[torch.Tensor]:
    """Head maps with random logits, the box bins tilted towards short distances (boxes of a few cells)."""
    g = torch.Generator().manual_seed(seed)
    maps = []
    for h in sizes:
        m = torch.randn(batch, 4 * reg_max + nc, h, h, generator=g)
        m[:, : 4 * reg_max].view(batch, 4, reg_max, h, h).mul_(1.5).sub_(0.35 * torch.arange(reg_max)[:, None, None])
        maps.append(m)
    return maps


def assert_loss_equals(parts, expected: dict, rel: float = 1e-5) -> None:
    for name in ("box", "cls", "dfl"):
        assert getattr(parts, name).item() == pytest.approx(expected[name], rel=rel), name


def assert_assignment_equals(assignment, expected: list[dict]) -> None:
    """yololab's positives, owners and target scores against the reference's, image by image."""
    for i, ref in enumerate(expected):
        positive = ref["positive"]
        assert assignment.fg_mask[i].nonzero().view(-1).tolist() == sorted(positive)
        for a, (m, score) in positive.items():
            assert assignment.gt_index[i, a] == m
            assert assignment.scores[i, a].sum().item() == pytest.approx(score, rel=1e-4, abs=1e-7)


def test_the_full_loss_equals_an_independent_reference():
    """Two images of 64 px, two levels (80 anchors), three boxes of which two overlap: TAL (top-10, anchors
    contested by both boxes), BCE, CIoU and DFL, all three weighted terms against ``tests.loss_reference``."""
    maps = random_maps([8, 4], seed=3)
    targets = torch.tensor([[0, 0, 8, 6, 40, 34], [0, 1, 18, 14, 56, 50], [1, 2, 10, 12, 44, 58]], dtype=torch.float)
    expected = reference_loss(maps, targets, (64, 64))
    contested = expected["assignments"][0]["contested"]
    owners = {expected["assignments"][0]["positive"][a][0] for a in contested}
    assert owners == {0, 1}  # the case has contested anchors, won by each box
    loss_fn = DetectionLoss(3)
    assert_loss_equals(loss_fn(maps, targets, (64, 64)), expected)
    decoded = decode(maps, (64, 64), 16)
    gt_labels, gt_boxes, gt_mask = pad_targets(targets, 2)
    assignment = loss_fn.assigner(decoded.cls_logits.sigmoid(), decoded.boxes, decoded.anchors, gt_labels, gt_boxes,
                                  gt_mask)
    assert_assignment_equals(assignment, expected["assignments"])


def point_box_case():
    """A 128 px image: a box (70..110, 66..104) with four anchors inside whose bin 0 leads by 20 logits on all four
    sides, so that they decode to point boxes; a tiny box (no anchor inside) whose nearest anchor, (100, 100),
    is one of them."""
    maps = random_maps([16, 8], seed=1, batch=1)
    point_anchors = [(76, 68), (84, 76), (92, 84), (100, 100)]
    for x, y in point_anchors:
        bins = maps[0][0, :64, (y - 4) // 8, (x - 4) // 8].view(4, 16)
        bins.zero_()[:, 0] = 20.0
    targets = torch.tensor([[0, 1, 70, 66, 110, 104], [0, 2, 100.5, 100.5, 102.5, 102.5]])
    return maps, targets, [(y - 4) // 8 * 16 + (x - 4) // 8 for x, y in point_anchors]


@pytest.mark.parametrize("nearest_fallback", [False, True])
def test_point_box_predictions_leave_the_loss_finite_and_equal_to_the_reference(nearest_fallback):
    """torchvision's CIoU is NaN for a point box; here the loss stays finite and equals the reference (whose
    aspect angle is atan2(w, h) = 0 for a point box). With the fallback, the tiny box takes its nearest anchor
    although it predicts a point box, so the box and DFL terms include one."""
    maps, targets, point_anchors = point_box_case()
    decoded = decode(maps, (128, 128), 16)
    points = decoded.boxes[0, point_anchors]
    assert (points[:, 2:] == points[:, :2]).all()  # exactly zero width and height
    assert complete_box_iou_loss(points, targets[:1, 2:].expand(4, 4)).isnan().all()
    maps = [m.requires_grad_() for m in maps]
    assigner = TaskAlignedAssigner(nearest_fallback=nearest_fallback)
    parts = DetectionLoss(3, assigner=assigner)(maps, targets, (128, 128))
    expected = reference_loss(maps, targets, (128, 128), nearest_fallback=nearest_fallback)
    positive = expected["assignments"][0]["positive"]
    assert (positive.get(point_anchors[-1]) == (1, 1.0)) == nearest_fallback
    assert not set(point_anchors[:3]) & set(positive)  # zero alignment: never picked by TAL
    assert_loss_equals(parts, expected)
    parts.total.backward()
    assert all(torch.isfinite(m.grad).all() for m in maps)
