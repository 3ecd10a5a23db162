"""The YOLO-format reader, letterboxing and the synthetic generator, on real files."""

import numpy as np
import pytest
import torch
from PIL import Image

from yololab.data.dataset import DetectionDataset, collate
from yololab.data.formats import open_dataset
from yololab.data.records import DataError
from yololab.data.synthetic import SyntheticDefects, render_image
from yololab.data.transforms import build_pipeline, letterbox_scale


def write_yolo(root, images: dict[str, tuple[tuple[int, int], str | None]], names=("a", "b")):
    """images: file name -> ((width, height), label text or None for no label file)."""
    (root / "images" / "train").mkdir(parents=True)
    (root / "labels" / "train").mkdir(parents=True)
    for name, ((w, h), label) in images.items():
        Image.fromarray(np.full((h, w, 3), 128, np.uint8)).save(root / "images" / "train" / name)
        if label is not None:
            (root / "labels" / "train" / name).with_suffix(".txt").write_text(label)
    (root / "data.yaml").write_text(f"path: .\ntrain: images/train\nval: images/train\nnames: {list(names)}\n")


def test_reads_boxes_in_pixels(tmp_path):
    write_yolo(tmp_path, {"x.jpg": ((200, 100), "1 0.5 0.5 0.2 0.4\n0 0.1 0.1 0.1 0.1\n"), "y.png": ((50, 50), None)})
    reader = open_dataset(tmp_path)
    records, problems = reader.load("train")
    assert reader.class_names == ["a", "b"]
    assert [str(p) for p in problems] == [
        f"{tmp_path}/labels/train/y.txt: missing label file; image used as background"]
    assert not problems[0].fatal
    by_name = {r.path.rsplit("/", 1)[-1]: r for r in records}
    x = by_name["x.jpg"]
    assert (x.width, x.height) == (200, 100)
    np.testing.assert_allclose(x.boxes, [[80, 30, 120, 70], [10, 5, 30, 15]], atol=1e-4)
    assert x.labels.tolist() == [1, 0]
    assert len(by_name["y.png"].boxes) == 0  # no label file: a background image


def test_problems_name_file_and_line(tmp_path):
    write_yolo(tmp_path, {"x.jpg": ((100, 100), "0 0.5 0.5 0.2 0.2\n0 0.5 oops 0.2\n7 0.5 0.5 0.1 0.1\n")})
    records, problems = open_dataset(tmp_path).load("train")
    messages = [str(p) for p in problems]
    assert any(m.endswith("x.txt:2: malformed line '0 0.5 oops 0.2': expected 'class cx cy w h'") for m in messages)
    assert any("x.txt:3: class id 7 out of range [0, 2)" in m for m in messages)
    assert all(p.fatal for p in problems)
    assert len(records[0].boxes) == 1


def test_fractional_class_and_negative_size_are_named_errors(tmp_path):
    write_yolo(tmp_path, {"x.jpg": ((100, 100), "1.5 0.5 0.5 0.2 0.2\n0 0.5 0.5 -0.2 0.2\n0 0.5 0.5 0.2 -0.1\n"
                                                "0 0.5 0.5 0.2 0.2\n")})
    records, problems = open_dataset(tmp_path).load("train")
    label = f"{tmp_path}/labels/train/x.txt"
    assert [str(p) for p in problems] == [
        f"{label}:1: class id 1.5 is not an integer",
        f"{label}:2: box (60.0, 40.0, 40.0, 60.0) has a negative width",
        f"{label}:3: box (40.0, 55.0, 60.0, 45.0) has a negative height",
    ]
    assert all(p.fatal for p in problems)
    assert len(records[0].boxes) == 1


def test_missing_root_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="dataset path does not exist"):
        open_dataset(tmp_path / "nowhere")


def test_letterbox_maps_back_to_original_pixels(tmp_path):
    write_yolo(tmp_path, {"x.jpg": ((200, 120), "1 0.5 0.5 0.2 0.4\n")})
    records, _ = open_dataset(tmp_path).load("train")
    ds = DetectionDataset(records, build_pipeline(96), 96)
    batch = collate([ds[0]])
    assert batch["images"].shape == (1, 3, 96, 96) and batch["images"].dtype == torch.uint8
    sx, sy = batch["scales"][0].tolist()
    assert (sx, sy) == pytest.approx(letterbox_scale(120, 200, 96))
    back = batch["targets"][0, 2:] / torch.tensor([sx, sy, sx, sy])
    torch.testing.assert_close(back, torch.tensor([80.0, 36.0, 120.0, 84.0]), atol=1e-3, rtol=0)
    # the padding is at the bottom: rows past the content hold the pad value
    assert (batch["images"][0, :, 58:, :] == 114).all()


def test_synthetic_is_deterministic_and_boxes_are_valid():
    a, la = render_image(7, "train", 3, 160)
    b, lb = render_image(7, "train", 3, 160)
    c, _ = render_image(8, "train", 3, 160)
    assert np.array_equal(a, b) and la == lb and not np.array_equal(a, c)
    for _, x1, y1, x2, y2 in la:
        assert 0 <= x1 < x2 <= 160 and 0 <= y1 < y2 <= 160


def test_synthetic_writes_yolo_once(tmp_path):
    gen = SyntheticDefects(num_train=4, num_val=2, image_size=96, seed=1)
    root = gen.write(tmp_path / "syn")
    stamp = (root / "data.yaml").stat().st_mtime_ns
    gen.write(root)
    assert (root / "data.yaml").stat().st_mtime_ns == stamp  # cached, not regenerated
    records, problems = open_dataset(root).load("val")
    assert len(records) == 2 and not problems
