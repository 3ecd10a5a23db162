"""Prediction from a checkpoint trained to overfit eight real image files: it finds their known boxes."""

import csv
import json
import logging
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from tests.conftest import compose_config
from torchvision.ops import box_iou

from yololab.data.formats import open_dataset
from yololab.data.records import DataError
from yololab.inference import gather_inputs
from yololab.tasks import predict
from yololab.tasks.predict import PALETTE


def predict_config(tmp_path, ckpt, input, *extra):
    return compose_config(tmp_path, [f"ckpt_path={ckpt}", f"input={input}", f"output={tmp_path / 'out'}", *extra],
                          config_name="predict")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, overfit_root):
    """The training images, two grey odd-sized PNG copies of one in a sub-folder, and a corrupt file;
    with each readable image's known boxes (class, xyxy) in its own pixels."""
    folder = tmp_path_factory.mktemp("inputs")
    known = {}
    for record in open_dataset(overfit_root).load("train")[0]:
        dest = folder / Path(record.path).name
        shutil.copy(record.path, dest)
        known[str(dest)] = (record.labels, record.boxes)
    record = open_dataset(overfit_root).load("train")[0][0]
    grey = cv2.imread(record.path, cv2.IMREAD_GRAYSCALE)
    (folder / "sub").mkdir()
    h = 137  # odd height, same scale: letterboxing pads the bottom
    inside = record.boxes[:, 3] <= h
    assert inside.any()
    cv2.imwrite(str(folder / "sub" / "grey_crop.png"), grey[:h])
    known[str(folder / "sub" / "grey_crop.png")] = (record.labels[inside], record.boxes[inside])
    size = 241  # odd, and letterboxing scales it by 160 / 241
    cv2.imwrite(str(folder / "sub" / "grey_241.png"), cv2.resize(grey, (size, size), interpolation=cv2.INTER_CUBIC))
    known[str(folder / "sub" / "grey_241.png")] = (record.labels, record.boxes * size / 160)
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG image")
    return folder, known


@pytest.fixture(scope="module")
def predicted(overfit_run, inputs, tmp_path_factory):
    _, _, run_dir = overfit_run
    tmp_path = tmp_path_factory.mktemp("predict")
    cfg = predict_config(tmp_path, run_dir / "checkpoints" / "last.ckpt", inputs[0])
    return predict.run(cfg), tmp_path / "out"


def test_predict_finds_the_known_boxes(predicted, inputs):
    _, out = predicted
    _, known = inputs
    report = json.loads((out / "detections.json").read_text())
    assert sorted(report["images"]) == sorted(known)
    assert report["settings"] == {"conf": 0.25, "iou": 0.7, "img_size": 160, "max_det": 300, "batch_size": 8}
    for image, (labels, boxes) in known.items():
        rows = [r for r in report["detections"] if r["image"] == image]
        found = torch.tensor([[r["x1"], r["y1"], r["x2"], r["y2"]] for r in rows]).reshape(-1, 4)
        iou = box_iou(torch.as_tensor(boxes), found)
        same_class = torch.as_tensor(labels)[:, None] == torch.tensor([r["class_id"] for r in rows])[None]
        assert ((iou > 0.5) & same_class).any(1).all(), f"{image}: {boxes.tolist()} not all in {found.tolist()}"
        assert all(r["class_name"] == report["class_names"][r["class_id"]] and 0.25 <= r["score"] <= 1 for r in rows)


def test_corrupt_file_is_reported_and_skipped(predicted, inputs):
    result, out = predicted
    corrupt = str(inputs[0] / "corrupt.jpg")
    assert result["skipped"] == [corrupt]
    report = json.loads((out / "detections.json").read_text())
    assert [r["image"] for r in report["skipped"]] == [corrupt]
    assert report["skipped"][0]["error"].startswith("unreadable image (")
    assert not (out / "corrupt.jpg").exists()


def test_drawn_images_keep_size_and_show_the_boxes(predicted, inputs):
    _, out = predicted
    folder, known = inputs
    report = json.loads((out / "detections.json").read_text())
    for image in known:
        drawn = cv2.imread(str(out / Path(image).relative_to(folder)), cv2.IMREAD_COLOR).astype(int)
        assert drawn.shape == cv2.imread(image, cv2.IMREAD_COLOR).shape
        assert (drawn.max(-1) - drawn.min(-1) > 60).sum() > 50  # coloured boxes and labels on a grey image
    # lossless PNG: the class colour of each box, exactly, along its outline
    grey = str(folder / "sub" / "grey_241.png")
    drawn = cv2.cvtColor(cv2.imread(str(out / "sub" / "grey_241.png")), cv2.COLOR_BGR2RGB)
    for row in (r for r in report["detections"] if r["image"] == grey):
        colour = [int(PALETTE[row["class_id"]][i:i + 2], 16) for i in (1, 3, 5)]
        outline = 2 * (row["x2"] - row["x1"] + row["y2"] - row["y1"])
        assert (drawn == colour).all(-1).sum() > 0.5 * outline


def test_csv_detections_and_settings_from_config(overfit_run, overfit_root, tmp_path):
    _, _, run_dir = overfit_run
    image = sorted((overfit_root / "images" / "train").glob("*.jpg"))[0]
    cfg = predict_config(tmp_path, run_dir / "checkpoints" / "last.ckpt", image, "detections_file=dets.csv",
                         "conf=0.5", "max_det=1")
    predict.run(cfg)
    with open(tmp_path / "out" / "dets.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and float(rows[0]["score"]) >= 0.5
    assert rows[0]["image"] == str(image) and (rows[0]["width"], rows[0]["height"]) == ("160", "160")
    assert (tmp_path / "out" / image.name).is_file()


def test_nothing_readable_fails_naming_the_files(overfit_run, tmp_path, caplog):
    _, _, run_dir = overfit_run
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.png").write_bytes(b"not a png")
    cfg = predict_config(tmp_path, run_dir / "checkpoints" / "last.ckpt", tmp_path / "in")
    with caplog.at_level(logging.WARNING), pytest.raises(DataError, match=r"a\.png: unreadable image"):
        predict.run(cfg)
    assert "a.png" in caplog.text


@pytest.mark.parametrize(("override", "match"), [
    ("img_size=100", "img_size=100"), ("conf=1.5", "conf=1.5"), ("iou=high", "iou='high'"),
    ("detections_file=d.txt", "detections_file"),
])
def test_bad_settings_are_named(overfit_run, overfit_root, tmp_path, override, match):
    _, _, run_dir = overfit_run
    cfg = predict_config(tmp_path, run_dir / "checkpoints" / "last.ckpt", overfit_root / "images", override)
    with pytest.raises(ValueError, match=match):
        predict.run(cfg)


def test_gather_inputs(tmp_path):
    for name in ("a.jpg", "b.PNG", "c.txt", "d/e.jpg"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in gather_inputs(tmp_path)] == ["a.jpg", "b.PNG", "e.jpg"]
    assert [p.name for p in gather_inputs(f"{tmp_path}/*.jpg")] == ["a.jpg"]
    assert [p.name for p in gather_inputs(f"{tmp_path}/**/*.jpg")] == ["a.jpg", "e.jpg"]
    assert [p.name for p in gather_inputs(tmp_path / "c.txt")] == ["c.txt"]
    with pytest.raises(FileNotFoundError, match=r"missing\.jpg"):
        gather_inputs(tmp_path / "missing.jpg")
    with pytest.raises(FileNotFoundError, match=r"\*\.bmp"):
        gather_inputs(f"{tmp_path}/*.bmp")


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("spec", ["{folder}", "{folder}/**/*.jpg"], ids=["folder", "glob"])
def test_an_input_image_is_never_written(overfit_run, overfit_root, tmp_path, spec):
    """``output`` inside the input folder, where an original has the relative name a drawing would get."""
    _, _, run_dir = overfit_run
    folder = tmp_path / "scans"
    (folder / "sub").mkdir(parents=True)
    first, second = sorted((overfit_root / "images" / "train").glob("*.jpg"))[:2]
    shutil.copy(first, folder / "a.jpg")
    shutil.copy(second, folder / "sub" / "a.jpg")  # where a.jpg's drawing would go with output=scans/sub
    before = files(folder)
    cfg = compose_config(tmp_path, [f"ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}",
                                    f"input={spec.format(folder=folder)}", f"output={folder / 'sub'}"],
                         config_name="predict")
    # scans/sub/a.jpg is inside the output folder, so it is no input: it is refused as an existing file
    with pytest.raises(ValueError, match=rf"output: {folder}/sub/a\.jpg already exists"):
        predict.run(cfg)
    assert files(folder) == before


def test_output_inside_the_input_folder_leaves_earlier_outputs_out(overfit_run, overfit_root, tmp_path):
    _, _, run_dir = overfit_run
    folder = tmp_path / "scans"
    folder.mkdir()
    for image in sorted((overfit_root / "images" / "train").glob("*.jpg"))[:2]:
        shutil.copy(image, folder / image.name)
    (folder / "pred").mkdir()
    cv2.imwrite(str(folder / "pred" / "old.png"), np.zeros((40, 40, 3), np.uint8))  # an earlier drawing
    before = files(folder)
    result = predict.run(compose_config(tmp_path, [f"ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}",
                                                   f"input={folder}", f"output={folder / 'pred'}"],
                                        config_name="predict"))
    originals = sorted(name for name in before if "/" not in name)
    assert sorted(Path(p).name for p in result["images"]) == originals  # pred/old.png is not an input
    assert all(files(folder)[name] == data for name, data in before.items())
    assert all((folder / "pred" / name).is_file() for name in originals)
