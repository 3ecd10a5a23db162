"""yololab's mAP against pycocotools: hand-made crowded images, and a real model on real NEU-DET images."""

import pytest
import torch
from tests.coco_reference import coco_class_ap, coco_eval, coco_map
from tests.conftest import compose_config, neu_det_or_skip

from yololab.metrics import build_map_metric, summarize
from yololab.tasks import evaluate, train

NAMES = ["a", "b", "c"]
TRAIN_BATCHES = 10  # of 16 images: 160 of NEU-DET's 1440 training images


def crowded_images(n: int, seed: int = 0):
    """Images with many detections per class (past the 100 cap), border boxes and ignore regions."""
    g = torch.Generator().manual_seed(seed)
    preds, targets = [], []
    for i in range(n):
        gt_xy = torch.rand(6, 2, generator=g) * 150
        gt = torch.cat([gt_xy, gt_xy + 8 + torch.rand(6, 2, generator=g) * 60], 1).clamp(max=200)
        labels = torch.randint(0, 3, (6,), generator=g)
        crowd = torch.zeros(6, dtype=torch.long)
        crowd[0] = i % 2  # every other image has an ignore region
        many = 400 if i % 3 == 0 else 40  # 400: past the 100 cap per class
        picks = torch.randint(0, 6, (many,), generator=g)
        boxes = gt[picks] + (torch.rand(many, 4, generator=g) - 0.5) * 20
        det_labels = torch.where(torch.rand(many, generator=g) < 0.8, labels[picks], torch.randint(0, 3, (many,)))
        preds.append({"boxes": boxes, "scores": torch.rand(many, generator=g), "labels": det_labels})
        targets.append({"boxes": gt, "labels": labels, "iscrowd": crowd})
    return preds, targets


def ours(preds, targets) -> dict:
    metric = build_map_metric()
    metric.update(preds, targets)
    return summarize(metric.compute(), NAMES, "val")


def test_map_equals_pycocotools_with_caps_and_ignore_regions():
    preds, targets = crowded_images(12)
    values = ours(preds, targets)
    reference = coco_eval(preds, targets, max_dets=(1, 100, 300))
    assert values["val/mAP50-95"] == pytest.approx(reference.stats[0], abs=1e-6)  # COCO's standard, 100 dets
    assert values["val/mAP50"] == pytest.approx(coco_map(reference, 100, iou_index=0), abs=1e-6)
    assert values["val/mAP50-95_300det"] == pytest.approx(coco_map(reference, 300), abs=1e-6)
    assert values["val/mAP50-95"] != values["val/mAP50-95_300det"]  # the cap matters in this case
    assert 0.05 < values["val/mAP50-95"] < 0.95  # not a degenerate case


def test_an_ignore_region_turns_a_false_positive_into_nothing():
    gt = {"boxes": torch.tensor([[10.0, 10, 50, 50], [100, 100, 150, 150]]), "labels": torch.tensor([0, 0]),
          "iscrowd": torch.tensor([0, 1])}
    dets = {"boxes": torch.tensor([[100.0, 100, 150, 150], [10, 10, 50, 50]]), "scores": torch.tensor([0.9, 0.8]),
            "labels": torch.tensor([0, 0])}
    assert ours([dets], [gt])["val/AP50/a"] == pytest.approx(1.0)  # the detection on the ignore region is neither
    gt.pop("iscrowd")
    assert ours([dets], [gt])["val/AP50/a"] == pytest.approx(1.0)
    gt["iscrowd"] = torch.tensor([0, 1])
    dets["boxes"][0] = torch.tensor([160.0, 160, 190, 190])  # off the ignore region: a false positive ranked first
    assert ours([dets], [gt])["val/AP50/a"] == pytest.approx(0.5)  # precision 1/2 at recall 1


def test_a_detection_at_iou_exactly_0_8_counts_at_the_0_8_threshold():
    """IoU 80/100: a hit at thresholds 0.50 to 0.80, seven of ten (float32 thresholds put 0.8 at 0.800000012: 0.6)."""
    gt = {"boxes": torch.tensor([[0.0, 0, 10, 10]]), "labels": torch.tensor([0])}
    dets = {"boxes": torch.tensor([[0.0, 0, 10, 8]]), "scores": torch.tensor([0.9]), "labels": torch.tensor([0])}
    assert ours([dets], [gt])["val/mAP50-95"] == pytest.approx(0.7, abs=1e-6)
    assert ours([dets], [gt])["val/mAP50-95"] == pytest.approx(coco_eval([dets], [gt]).stats[0], abs=1e-6)


def test_detections_on_an_ignore_region_at_exact_thresholds():
    """An ignore region (22..40 x 0..20) and two detections ranked above the true hit, of different areas: 80 of
    100 px² inside it (ignored up to IoU 0.8), and 60 of 100 (up to 0.6). AP is 1 at 0.50-0.60, 1/2 at 0.65-0.80,
    1/3 above: 0.6 (float32 thresholds: 0.483)."""
    gt = {"boxes": torch.tensor([[0.0, 0, 10, 10], [22, 0, 40, 20]]), "labels": torch.tensor([0, 0]),
          "iscrowd": torch.tensor([0, 1])}
    dets = {"boxes": torch.tensor([[0.0, 0, 10, 10], [20, 0, 30, 10], [28, 12, 48, 17]]),
            "scores": torch.tensor([0.5, 0.9, 0.8]), "labels": torch.tensor([0, 0, 0])}
    assert ours([dets], [gt])["val/mAP50-95"] == pytest.approx(0.6, abs=1e-6)
    assert ours([dets], [gt])["val/mAP50-95"] == pytest.approx(coco_eval([dets], [gt]).stats[0], abs=1e-6)


@pytest.mark.neu_det
@pytest.mark.slow
def test_a_trained_checkpoint_on_neu_det_val_equals_pycocotools(tmp_path):
    """A detector trained briefly on NEU-DET (ten steps at 64 px: val mAP50 0.0017, 16,501 detections), evaluated
    on the whole val split by ``scripts/eval.py``'s code; the detections and ground truth its validation steps
    gave the metric, evaluated by pycocotools, give the same figures to 1e-6."""
    root = neu_det_or_skip()
    cfg = compose_config(tmp_path / "train", [
        "data=neu_det", f"data.root={root}", "data.img_size=64", "data.loader.num_workers=0", "data.cache.ram=false",
        "logger=none", "callbacks=[model_checkpoint]", "trainer=cpu", "trainer.max_epochs=1",
        f"trainer.limit_train_batches={TRAIN_BATCHES}", "trainer.limit_val_batches=0", "model.scheduler=null",
    ])
    train.run(cfg)
    saved = tmp_path / "evaluation.pt"
    eval_cfg = compose_config(tmp_path / "eval", [
        f"ckpt_path={cfg.paths.output_dir}/checkpoints/last.ckpt", "trainer=cpu", "data.loader.num_workers=0",
        "+callbacks.save._target_=tests.helpers.SaveEvaluation", f"+callbacks.save.path={saved}",
    ], config_name="eval")
    metrics = evaluate.run(eval_cfg)
    given = torch.load(saved)
    assert len(given["targets"]) == 360
    reference = coco_eval(given["detections"], given["targets"], max_dets=(1, 100, 300))
    assert metrics["val/mAP50-95"] == pytest.approx(reference.stats[0], abs=1e-6)
    assert metrics["val/mAP50"] == pytest.approx(coco_map(reference, 100, iou_index=0), abs=1e-6)
    assert metrics["val/mAP50-95_300det"] == pytest.approx(coco_map(reference, 300), abs=1e-6)
    names = ["crazing", "inclusion", "patches", "pitted_surface", "rolled-in_scale", "scratches"]
    for k, name in enumerate(names):
        assert metrics[f"val/AP50/{name}"] == pytest.approx(coco_class_ap(reference, k, iou_index=0), abs=1e-6)
    assert metrics["val/mAP50"] > 0 and sum(len(d["scores"]) for d in given["detections"]) > 1000  # not degenerate
