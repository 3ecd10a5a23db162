"""YOLO, COCO and Pascal VOC readers on real files: the same data loads as the same samples."""

from collections import Counter

import numpy as np
import pytest
import torch
from tests.writers import distinct_image, write_coco, write_voc, write_yolo

from yololab.data.datamodule import DefectDataModule, LoaderSettings
from yololab.data.dataset import DetectionDataset
from yololab.data.formats import open_dataset
from yololab.data.records import DataError
from yololab.data.splits import stratified_split
from yololab.data.transforms import build_pipeline

NAMES = ["crack", "pit", "scratch"]


def sample_data() -> dict:
    """Two splits; integer pixel boxes (as VOC stores them), one image grey, one without boxes."""
    return {
        "train": {
            "a.png": (distinct_image(1, 64, 48), [(0, 4, 6, 30, 20), (2, 40, 10, 63, 47)]),
            "b.png": (distinct_image(2, 50, 70, grey=True), [(1, 0, 0, 10, 12)]),
            "c.jpg": (distinct_image(3, 80, 40), [(2, 10, 5, 70, 35), (0, 1, 1, 5, 5), (1, 20, 20, 40, 39)]),
        },
        "val": {
            "d.png": (distinct_image(4, 32, 32), [(1, 8, 8, 24, 24)]),
            "e.png": (distinct_image(5, 40, 30), []),
        },
    }


@pytest.fixture(scope="module")
def three_formats(tmp_path_factory):
    data = sample_data()
    base = tmp_path_factory.mktemp("formats")
    return data, {
        "yolo": write_yolo(base / "yolo", data, NAMES),
        "coco": write_coco(base / "coco", data, NAMES),
        "voc": write_voc(base / "voc", data, NAMES),
    }


def by_name(records):
    return {r.path.rsplit("/", 1)[-1]: r for r in records}


@pytest.mark.parametrize("fmt", ["yolo", "coco", "voc"])
def test_format_is_detected_and_reads_the_written_boxes(three_formats, fmt):
    data, roots = three_formats
    reader = open_dataset(roots[fmt])
    assert reader.name == fmt and reader.class_names == NAMES and reader.splits()[:2] == ["train", "val"]
    for split, images in data.items():
        records, _ = reader.load(split)
        got = by_name(records)
        assert sorted(got) == sorted(images)
        for name, (image, boxes) in images.items():
            record = got[name]
            assert (record.height, record.width) == image.shape[:2]
            expected = np.asarray([b[1:] for b in boxes], np.float32).reshape(-1, 4)
            np.testing.assert_allclose(record.boxes, expected, atol=1e-6, rtol=0)
            assert record.labels.tolist() == [b[0] for b in boxes]


def test_three_formats_load_as_identical_samples(three_formats):
    _, roots = three_formats
    samples = {}
    for fmt, root in roots.items():
        records, _ = open_dataset(root, fmt).load("train")
        dataset = DetectionDataset(records, build_pipeline(96), 96)
        samples[fmt] = [dataset[i] for i in range(len(dataset))]
    for fmt in ("coco", "voc"):
        for a, b in zip(samples["yolo"], samples[fmt], strict=True):
            assert torch.equal(a["image"], b["image"]) and torch.equal(a["labels"], b["labels"])
            torch.testing.assert_close(a["boxes"], b["boxes"], atol=1e-6, rtol=0)
            torch.testing.assert_close(a["scale"], b["scale"], atol=0, rtol=0)


def test_problems_are_the_same_in_every_format(tmp_path):
    """A box past the border is clipped, a zero-size one dropped, with the same message in each format."""
    data = {"train": {"x.png": (distinct_image(9, 40, 40), [(0, 30, 10, 50, 20), (1, 5, 5, 5, 9)])},
            "val": {"y.png": (distinct_image(10, 40, 40), [(0, 1, 1, 9, 9)])}}
    messages, lines = {}, {}
    for fmt, writer in (("yolo", write_yolo), ("coco", write_coco), ("voc", write_voc)):
        records, problems = open_dataset(writer(tmp_path / fmt, data, NAMES), fmt).load("train")
        np.testing.assert_allclose(records[0].boxes, [[30, 10, 40, 20]], atol=1e-6)
        messages[fmt], lines[fmt] = [p.message for p in problems], [p.line for p in problems]
        assert not any(p.fatal for p in problems)
    assert messages["yolo"] == ["box (30.0, 10.0, 50.0, 20.0) extends past the 40x40 image; clipped",
                                "box (5.0, 5.0, 5.0, 9.0) has zero size; dropped"]
    assert messages["voc"] == messages["yolo"]
    assert messages["coco"] == [f"annotation id {i}: {m}" for i, m in enumerate(messages["yolo"], 1)]
    assert lines == {"yolo": [1, 2], "voc": [9, 19], "coco": [None, None]}  # VOC: the <object> tag's line


def test_voc_difficult_and_coco_crowd_are_left_out_unless_kept(tmp_path):
    data = {"train": {"x.png": (distinct_image(11), [(0, 1, 1, 20, 20), (1, 30, 10, 60, 40)])},
            "val": {"y.png": (distinct_image(12), [(2, 2, 2, 9, 9)])}}
    voc = write_voc(tmp_path / "voc", data, NAMES, difficult={"x.png": [1]})
    coco = write_coco(tmp_path / "coco", data, NAMES, crowd=frozenset({("x.png", 1)}))
    for root in (voc, coco):
        records, problems = open_dataset(root).load("train")
        assert records[0].labels.tolist() == [0] and not problems  # not an "empty file" either
        kept, _ = open_dataset(root, keep_difficult=True).load("train")
        assert kept[0].labels.tolist() == [0, 1]
        np.testing.assert_allclose(kept[0].boxes[1], [30, 10, 60, 40])


def test_grey_images_replicate_or_stay_one_channel(three_formats):
    data, roots = three_formats
    grey = data["train"]["b.png"][0]
    records, _ = open_dataset(roots["voc"]).load("train")
    record = [r for r in records if r.path.endswith("b.png")]
    rgb = DetectionDataset(record, build_pipeline(64), 64)[0]["image"]
    one = DetectionDataset(record, build_pipeline(64, channels=1), 64)[0]["image"]
    assert rgb.shape == (3, 64, 64) and one.shape == (1, 64, 64)
    assert torch.equal(rgb[0], rgb[1]) and torch.equal(rgb[1], rgb[2])
    scaled = rgb[0, :64, : round(50 * 64 / 70)]
    assert (one[0, :64, : scaled.shape[1]].int() - scaled.int()).abs().max() <= 1
    assert grey.ndim == 2


def test_one_channel_reaches_the_model_config(tmp_path):
    from tests.conftest import compose_config

    cfg = compose_config(tmp_path, ["data.channels=1"])
    assert cfg.model.in_channels == 1 and cfg.data.channels == 1


def single_set(n_per_class: int = 10) -> dict:
    """One set of 3 * n images, one class each, plus 5 background images."""
    images = {f"{c}_{i:02d}.png": (distinct_image(100 * c + i, 32, 32), [(c, 2, 2, 20, 20)])
              for c in range(3) for i in range(n_per_class)}
    images.update({f"bg_{i}.png": (distinct_image(1000 + i, 32, 32), []) for i in range(5)})
    return {"all": images}


def test_single_set_is_split_by_class_deterministically(tmp_path):
    root = write_voc(tmp_path / "voc", single_set(), NAMES, annotations="ANNOTATIONS", images="IMAGES")
    reader = open_dataset(root, val_fraction=0.2, split_seed=3)
    assert reader.name == "voc" and reader.splits() == ["train", "val"]
    train, _ = reader.load("train")
    val, problems = reader.load("val")
    assert len(train) == 28 and len(val) == 7 and not problems
    assert Counter(r.labels[0] if len(r.labels) else -1 for r in val) == {0: 2, 1: 2, 2: 2, -1: 1}
    assert not {r.path for r in train} & {r.path for r in val}
    again, _ = open_dataset(root, val_fraction=0.2, split_seed=3).load("val")
    other, _ = open_dataset(root, val_fraction=0.2, split_seed=4).load("val")
    assert [r.path for r in again] == [r.path for r in val]
    assert [r.path for r in other] != [r.path for r in val]


def test_stratified_split_keeps_the_rarest_class_in_both_halves():
    from yololab.data.records import ImageRecord

    records = [ImageRecord(f"{i}", 10, 10, np.zeros((1, 4), np.float32), np.array([i % 2], np.int64))
               for i in range(40)]
    records += [ImageRecord(f"r{i}", 10, 10, np.zeros((2, 4), np.float32), np.array([0, 2], np.int64))
                for i in range(5)]
    train, val = stratified_split(records, 0.2, seed=0)
    assert sum(2 in r.labels for r in val) == 1 and sum(2 in r.labels for r in train) == 4
    assert len(val) == 4 + 4 + 1


def test_yolo_with_only_a_train_split_is_split_too(tmp_path):
    root = write_yolo(tmp_path / "yolo", {"train": single_set(5)["all"]}, NAMES)
    dm = DefectDataModule(str(root), img_size=64, loader=LoaderSettings(num_workers=0), val_fraction=0.2, split_seed=0)
    dm.setup("fit")
    assert len(dm.datasets["train"]) == 16 and len(dm.datasets["val"]) == 4


def test_unknown_format_and_split_are_named(tmp_path, three_formats):
    _, roots = three_formats
    with pytest.raises(DataError, match=r"unknown data\.format 'pascal'; valid: auto, yolo, coco, voc"):
        open_dataset(roots["voc"], "pascal")
    with pytest.raises(DataError, match="no known dataset format found"):
        open_dataset(tmp_path)
    with pytest.raises(DataError, match=r"no 'test' split \(annotation files: train, val\)"):
        open_dataset(roots["coco"]).load("test")
