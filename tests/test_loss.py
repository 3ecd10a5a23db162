"""The detection loss: known values, empty batches, and that it can be driven down."""

import math
from functools import partial

import pytest
import torch

from yololab.loss import DetectionLoss
from yololab.loss.detection_loss import distribution_focal_loss, pad_targets
from yololab.models.backbone import CSPDarknet
from yololab.models.detector import YOLODetector
from yololab.models.heads import ConvHead
from yololab.models.neck import PAN


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
