"""What validation gives the mAP metric, against hand-computed cases: detections clipped to the original image,
NMS at the configured IoU threshold, and the ground truth as annotated (not the transformed targets)."""

import hydra
import lightning as L
import numpy as np
import pytest
import torch
from tests.conftest import compose_config
from tests.writers import distinct_image, write_yolo

from yololab.metrics import ap_per_class
from yololab.models.postprocess import non_max_suppression

REG_MAX, NAMES = 16, ["big", "tiny"]


def module(tmp_path, overrides=()):
    cfg = compose_config(tmp_path, ["data.synthetic=null", *overrides])
    return hydra.utils.instantiate(cfg.model, class_names=NAMES)


def peaked_map(cells: dict[tuple[int, int], tuple[list[int], int]], size: int = 2) -> torch.Tensor:
    """One [1, 4 * 16 + 2, size, size] map: at each (row, col) the bin of each side (left, top, right, bottom)
    takes all the mass, and the class logit ``cls`` is 3 (score 0.95); every other class logit is -10."""
    maps = torch.full((1, 4 * REG_MAX + 2, size, size), -10.0)
    for (row, col), (bins, cls) in cells.items():
        maps[0, : 4 * REG_MAX, row, col] = -30.0
        for side, b in enumerate(bins):
            maps[0, side * REG_MAX + b, row, col] = 30.0
        maps[0, 4 * REG_MAX + cls, row, col] = 3.0
    return maps


def batch_of(size: int, scale: float, original_hw: tuple[int, int]) -> dict:
    return {"images": torch.zeros(1, 3, size, size), "scales": torch.tensor([[scale, scale]]),
            "sizes": torch.tensor([original_hw])}


def test_detections_are_clipped_to_the_original_image(tmp_path):
    """A 16 px input letterboxed from a 32x24 image (scale 0.5). Anchor (4, 4), stride 8, sides 0, 0, 3, 1 decodes
    to (4, 4, 28, 12) in the input, (8, 8, 56, 24) in the original, clipped to its 32x24: (8, 8, 32, 24)."""
    model = module(tmp_path)
    maps = peaked_map({(0, 0): ([0, 0, 3, 1], 0)})
    (det,) = model.detections([maps], batch_of(16, 0.5, (24, 32)), conf_threshold=0.5)
    assert det["labels"].tolist() == [0]
    assert det["boxes"].tolist() == [pytest.approx([8.0, 8.0, 32.0, 24.0], abs=1e-3)]


@pytest.mark.parametrize(("iou_threshold", "kept"), [(0.5, 1), (0.65, 2), (0.7, 2)])
def test_nms_suppresses_at_the_given_iou_threshold(iou_threshold, kept):
    """Boxes (0, 0, 10, 10) and (0, 0, 10, 6) of one class: IoU 0.6."""
    boxes, scores = torch.tensor([[[0.0, 0, 10, 10], [0, 0, 10, 6]]]), torch.tensor([[[0.9], [0.8]]])
    (out,) = non_max_suppression(boxes, scores, conf_threshold=0.1, iou_threshold=iou_threshold)
    assert out["scores"].tolist() == pytest.approx([0.9, 0.8][:kept])


@pytest.mark.parametrize(("iou_threshold", "kept"), [(0.4, 1), (0.6, 2)])
def test_validation_detections_use_the_configured_nms_threshold(tmp_path, iou_threshold, kept):
    """``model.val_iou_threshold``: on a 32 px input (stride 8), anchor (4, 4) with sides 0, 0, 2, 1 gives
    (4, 4, 20, 12), anchor (12, 4) with sides 1, 0, 1, 2 gives (4, 4, 20, 20), scored lower: IoU 128 / 256 = 0.5."""
    model = module(tmp_path, [f"model.val_iou_threshold={iou_threshold}"])
    maps = peaked_map({(0, 0): ([0, 0, 2, 1], 0), (0, 1): ([1, 0, 1, 2], 0)}, size=4)
    maps[0, 4 * REG_MAX, 0, 1] = 2.0
    (det,) = model.detections([maps], batch_of(32, 1.0, (32, 32)), conf_threshold=0.5)
    expected = [[4.0, 4.0, 20.0, 12.0], [4.0, 4.0, 20.0, 20.0]][:kept]
    assert det["boxes"].tolist() == [pytest.approx(b, abs=1e-3) for b in expected]


class Collect(L.Callback):
    def __init__(self) -> None:
        self.targets = []

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self.targets += outputs["targets"]


def test_the_metric_gets_the_annotations_not_the_transformed_targets(tmp_path):
    """A 200 px image with a big box and a 2x2 px one. At 64 px the letterbox shrinks the small box to 0.4 px²,
    under the transform's 4 px² minimum, so the training targets drop it; the evaluation ground truth keeps both
    boxes in original pixels, and the metric sees class ``tiny`` (AP 0: it has ground truth, no detection)."""
    boxes = [(0, 20.0, 30.0, 120.0, 110.0), (1, 150.0, 150.0, 152.0, 152.0)]
    root = write_yolo(tmp_path / "data", {"train": {"a.png": (distinct_image(0, 200, 200), boxes)},
                                          "val": {"b.png": (distinct_image(1, 200, 200), boxes)}}, NAMES)
    cfg = compose_config(tmp_path, ["data.synthetic=null", f"data.root={root}", "data.img_size=64",
                                    "data.loader.num_workers=0", "data.batch_size=1", "logger=none"])
    datamodule = hydra.utils.instantiate(cfg.data)
    model = hydra.utils.instantiate(cfg.model, class_names=NAMES)
    collect = Collect()
    trainer = L.Trainer(accelerator="cpu", logger=False, callbacks=[collect], enable_progress_bar=False,
                        enable_model_summary=False)
    trainer.validate(model, datamodule=datamodule)
    batch = next(iter(datamodule.val_dataloader()))
    assert batch["targets"][:, 1].tolist() == [0.0]  # the transform dropped the tiny box from the targets
    (target,) = collect.targets
    assert target["labels"].tolist() == [0, 1]
    np.testing.assert_allclose(target["boxes"].numpy(), [b[1:] for b in boxes], atol=1e-4)
    assert set(ap_per_class(model.last_map_result["val"])) == {0, 1}  # both classes have ground truth
