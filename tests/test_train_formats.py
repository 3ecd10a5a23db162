"""Training on COCO- and VOC-format datasets works through the same command as YOLO format."""

import csv
import logging

import numpy as np
import pytest
from PIL import Image
from tests.conftest import compose_config
from tests.writers import write_coco, write_voc

from yololab.data.formats import open_dataset
from yololab.tasks import train


@pytest.fixture(scope="module")
def converted(synthetic_root, tmp_path_factory):
    """The small synthetic set (YOLO) rewritten as COCO and as VOC (with ImageSets/Main splits)."""
    reader = open_dataset(synthetic_root)
    data = {}
    for split in ("train", "val"):
        records, _ = reader.load(split)
        data[split] = {r.path.rsplit("/", 1)[-1].replace(".jpg", ".png"): (
            np.asarray(Image.open(r.path).convert("RGB")),
            [(int(c), *b.round().tolist()) for c, b in zip(r.labels, r.boxes, strict=True)]) for r in records}
    base = tmp_path_factory.mktemp("converted")
    return {"coco": write_coco(base / "coco", data, reader.class_names),
            "voc": write_voc(base / "voc", data, reader.class_names)}


@pytest.mark.parametrize(("fmt", "extra"), [("coco", []), ("voc", ["data.channels=1"])])
def test_trains_through_the_same_command(tmp_path, converted, fmt, extra, caplog):
    """VOC also trains on one grey channel (NEU-DET's original release is grey VOC)."""
    cfg = compose_config(tmp_path, [
        *extra, f"data.root={converted[fmt]}", f"data.format={fmt}", "data.synthetic=null", "data.loader.num_workers=0",
        "trainer.max_epochs=1", "trainer.limit_train_batches=1", "trainer.limit_val_batches=1", "logger=csv",
        "data.img_size=64", "data.batch_size=4", "+trainer.num_sanity_val_steps=0",  # small: the format is tested
    ])
    with caplog.at_level(logging.INFO, logger="yololab"):
        metrics = train.run(cfg)
    assert "val/mAP50" in metrics and metrics["train/loss_epoch"] > 0
    assert cfg.model.in_channels == (1 if extra else 3)  # a model of the other width fails on the batches
    with open(tmp_path / "run" / "csv" / "metrics.csv") as f:
        assert any(row.get("val/mAP50") for row in csv.DictReader(f))
    stats = [r.getMessage() for r in caplog.records if r.name == "yololab.callbacks.dataset_stats"]
    assert len(stats) == 1 and "\nimages                   48        16\n" in stats[0]
