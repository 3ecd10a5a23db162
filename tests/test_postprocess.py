"""Box decoding and NMS against hand-computed cases."""

import torch

from yololab.box_coding import boxes_to_distances, distances_to_boxes, expected_distances, make_anchors
from yololab.models.postprocess import decode, non_max_suppression


def peaked(bins: list[int], reg_max: int = 16) -> torch.Tensor:
    """Bin logits whose softmax puts (almost) all mass on the given bin of each side."""
    logits = torch.full((4, reg_max), -30.0)
    for side, b in enumerate(bins):
        logits[side, b] = 30.0
    return logits.reshape(-1)


def test_anchors_are_cell_centres():
    anchors, strides = make_anchors([(2, 2), (1, 1)], [8, 16])
    assert anchors.tolist() == [[4, 4], [12, 4], [4, 12], [12, 12], [8, 8]]
    assert strides.view(-1).tolist() == [8, 8, 8, 8, 16]


def test_expected_distance_is_the_bin_expectation():
    logits = torch.zeros(64)
    logits[:16] = torch.tensor([0.0] * 16).index_fill(0, torch.tensor([2, 3]), 50.0)  # equal mass on 2, 3
    d = expected_distances(logits[None], 16)[0]
    assert torch.allclose(d, torch.tensor([2.5, 7.5, 7.5, 7.5]), atol=1e-4)


def test_distance_round_trip():
    anchors = torch.tensor([[12.0, 20.0]])
    strides = torch.tensor([[8.0]])
    box = torch.tensor([[4.0, 4.0, 30.0, 28.0]])
    dist = boxes_to_distances(box, anchors, strides, 16)
    assert torch.allclose(dist, torch.tensor([[1.0, 2.0, 2.25, 1.0]]))
    assert torch.allclose(distances_to_boxes(dist, anchors, strides), box)


def test_decode_hand_computed_box():
    # one 2x2 map on a 16x16 image: stride 8; anchor 3 sits at (12, 12)
    reg_max, nc = 16, 2
    maps = torch.zeros(1, 4 * reg_max + nc, 2, 2)
    maps[0, : 4 * reg_max, 1, 1] = peaked([1, 0, 0, 2])
    maps[0, 4 * reg_max + 1, 1, 1] = 3.0
    decoded = decode([maps], (16, 16), reg_max)
    # left 1*8, top 0, right 0, bottom 2*8 from (12, 12)
    assert torch.allclose(decoded.boxes[0, 3], torch.tensor([4.0, 12.0, 12.0, 28.0]), atol=1e-3)
    assert decoded.cls_logits[0, 3].tolist() == [0.0, 3.0]
    assert decoded.anchors[3].tolist() == [12.0, 12.0] and decoded.strides[3].item() == 8.0


def test_nms_hand_computed():
    boxes = torch.tensor([[[0, 0, 10, 10], [0, 0, 10, 11], [20, 20, 30, 30], [0, 0, 10, 10]]], dtype=torch.float)
    scores = torch.tensor([[[0.9, 0.0], [0.8, 0.0], [0.7, 0.0], [0.0, 0.6]]])
    (out,) = non_max_suppression(boxes, scores, conf_threshold=0.5, iou_threshold=0.7)
    # box 1 overlaps box 0 with IoU 100/110 and is suppressed; box 3 is another class and stays
    kept = sorted(zip(out["scores"].tolist(), out["labels"].tolist(), out["boxes"].tolist(), strict=True))
    assert kept == [(0.6000000238418579, 1, [0, 0, 10, 10]), (0.699999988079071, 0, [20, 20, 30, 30]),
                    (0.8999999761581421, 0, [0, 0, 10, 10])]


def test_nms_is_multi_label_and_bounded():
    boxes = torch.tensor([[[0, 0, 10, 10]]], dtype=torch.float).repeat(1, 5, 1)
    boxes[0, :, 0] = torch.arange(5) * 20.0
    boxes[0, :, 2] = boxes[0, :, 0] + 10
    scores = torch.full((1, 5, 3), 0.5)
    (out,) = non_max_suppression(boxes, scores, conf_threshold=0.25, iou_threshold=0.7, max_detections=300)
    assert len(out["scores"]) == 15  # every (box, class) pair above the threshold
    (out,) = non_max_suppression(boxes, scores, conf_threshold=0.25, iou_threshold=0.7, max_detections=4)
    assert len(out["scores"]) == 4
    (out,) = non_max_suppression(boxes, scores, conf_threshold=0.6)
    assert len(out["scores"]) == 0
