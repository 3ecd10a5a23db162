"""The data check on real broken files: every problem with its file, line and exact message; what
training does with them (corrupt images skipped with one warning; fatal problems stop before training)."""

import io
import json
import logging
import re
import shutil
from pathlib import Path

import pytest
from PIL import Image
from tests.conftest import compose_config
from tests.writers import distinct_image, write_coco, write_voc, write_yolo

from yololab.data.check import scan
from yololab.data.datamodule import CacheSettings, DefectDataModule, LoaderSettings
from yololab.data.formats import open_dataset
from yololab.data.image_cache import ImageCache
from yololab.data.records import DataError
from yololab.tasks import check_data, train

NAMES = ["crack", "pit"]
TRUNCATED = r"unreadable image \(image file is truncated \(\d+ bytes not processed\)\); skipped"


def truncated_jpeg(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(distinct_image(seed, 64, 64)).save(buf, "JPEG", quality=90)
    data = buf.getvalue()
    return data[: len(data) * 2 // 3]


def good(seed: int):
    return distinct_image(seed, 40, 40), [(0, 4, 4, 20, 20)]


def broken_yolo(root):
    """A YOLO set with one of each problem; the two fatal ones only when ``fatal``."""
    train = {f"ok{i}.png": good(i) for i in range(4)}
    train["grey.png"] = (distinct_image(7, 40, 40, grey=True), [(1, 10, 10, 30, 30)])
    write_yolo(root, {"train": train, "val": {"v.png": good(20)}}, NAMES)
    lbl, img = root / "labels" / "train", root / "images" / "train"
    (img / "trunc.jpg").write_bytes(truncated_jpeg(30))
    (lbl / "trunc.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (img / "junk.jpg").write_bytes(b"this is not a picture")
    shutil.copy(img / "ok1.png", img / "copy.png")
    (lbl / "copy.txt").write_text((lbl / "ok1.txt").read_text())
    (lbl / "ok2.txt").write_text("")  # empty label file
    (lbl / "ok3.txt").unlink()  # missing label file
    (lbl / "ok0.txt").write_text("0 0.3 0.3 0.2 0.2\n1 0.95 0.5 0.2 0.2\n0 1.5 1.5 0.1 0.1\n")
    return root


def add_fatal(root):
    (root / "labels" / "train" / "grey.txt").write_text("1 0.5 0.5 0.5 0.5\n1 0.5 oops 0.2\n2 0.5 0.5 0.1 0.1\n")


def test_check_reports_every_problem_with_file_and_line(tmp_path):
    root = broken_yolo(tmp_path / "ds")
    add_fatal(root)
    png = bytearray((root / "images" / "train" / "ok2.png").read_bytes())
    png[len(png) // 2:len(png) // 2 + 8] = b"\xff" * 8  # damaged pixel data, intact header
    (root / "images" / "train" / "ok2.png").write_bytes(bytes(png))
    result = scan(open_dataset(root), {"train": "train", "val": "val"})
    lbl, img = f"{root}/labels/train", f"{root}/images/train"
    got = sorted(str(p) for p in result.problems)
    expected = sorted([
        f"{lbl}/ok0.txt:2: box (34.0, 16.0, 42.0, 24.0) extends past the 40x40 image; clipped",
        f"{lbl}/ok0.txt:3: box (58.0, 58.0, 62.0, 62.0) is outside the image; dropped",
        f"{lbl}/ok2.txt: empty label file; image used as background",
        f"{lbl}/ok3.txt: missing label file; image used as background",
        f"{lbl}/grey.txt:2: malformed line '1 0.5 oops 0.2': expected 'class cx cy w h'",
        f"{lbl}/grey.txt:3: class id 2 out of range [0, 2)",
        f"{img}/junk.jpg: unreadable image (not an image file PIL can identify); skipped",
        f"{img}/ok2.png: unreadable image (broken data stream when reading image file); skipped",
        f"{img}/ok1.png: same bytes as {img}/copy.png",
        "TRUNCATED",
    ])
    truncated = [m for m in got if re.fullmatch(f"{re.escape(img)}/trunc.jpg: {TRUNCATED}", m)]
    assert len(truncated) == 1
    assert sorted(m if m != truncated[0] else "TRUNCATED" for m in got) == expected
    fatal = sorted(str(p) for p in result.fatal)
    assert fatal == [f"{lbl}/grey.txt:2: malformed line '1 0.5 oops 0.2': expected 'class cx cy w h'",
                     f"{lbl}/grey.txt:3: class id 2 out of range [0, 2)"]
    assert sorted(r.path.rsplit("/", 1)[-1] for r in result.records["train"]) == [
        "copy.png", "grey.png", "ok0.png", "ok1.png", "ok3.png"]


def test_check_data_script_prints_the_report(tmp_path, capsys):
    root = broken_yolo(tmp_path / "ds")
    cfg = compose_config(tmp_path, [f"data.root={root}", "data.synthetic=null"], config_name="check_data")
    assert check_data.run(cfg) == 0  # warnings only
    out = capsys.readouterr().out
    assert f"warning: {root}/labels/train/ok2.txt: empty label file; image used as background" in out
    assert out.strip().endswith(
        "2 classes; train 6 images, val 1 images\nbit depths: 7 images 8-bit\n0 error(s), 7 warning(s): 2 box(es) "
        "dropped or clipped; "
        "1 duplicate image(s); 2 unreadable image(s) skipped; 2 image(s) without labels used as background")
    add_fatal(root)
    assert check_data.run(cfg) == 1
    assert f"error: {root}/labels/train/grey.txt:3: class id 2 out of range [0, 2)" in capsys.readouterr().out


def test_check_data_keeps_its_verdicts_in_the_cache_dir(tmp_path):
    root, cache = broken_yolo(tmp_path / "ds"), tmp_path / "cache"
    cfg = compose_config(tmp_path, [f"data.root={root}", "data.synthetic=null", f"data.cache.check_dir={cache}"],
                         config_name="check_data")
    assert check_data.run(cfg) == 0
    (saved,) = cache.glob("*.json")
    verdicts = json.loads(saved.read_text())  # path -> [size, mtime_ns, digest, error, bit depth]
    # every image but junk.jpg, whose header the reader could not read (never handed to the check)
    images = sorted(str(p) for p in root.glob("images/*/*") if p.name != "junk.jpg")
    assert sorted(verdicts) == images and len(images) == 8
    assert [Path(p).name for p, v in verdicts.items() if v[3]] == ["trunc.jpg"]


def test_training_skips_corrupt_images_with_one_summary_warning(tmp_path, caplog):
    root = broken_yolo(tmp_path / "ds")
    dm = DefectDataModule(str(root), img_size=64, loader=LoaderSettings(num_workers=0))
    with caplog.at_level(logging.WARNING):
        dm.setup("fit")
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    first = warnings[0].getMessage().splitlines()[0]
    assert first == (f"{root}: 2 box(es) dropped or clipped; 1 duplicate image(s); 2 unreadable image(s) "
                     "skipped; 2 image(s) without labels used as background")
    assert len(dm.datasets["train"]) == 6 and len(dm.datasets["val"]) == 1
    batch = next(iter(dm.train_dataloader()))
    assert batch["images"].shape == (6, 3, 64, 64)


def test_fatal_problems_stop_training_before_it_starts(tmp_path):
    root = broken_yolo(tmp_path / "ds")
    add_fatal(root)
    cfg = compose_config(tmp_path, [f"data.root={root}", "data.synthetic=null", "data.loader.num_workers=0",
                                    "logger=csv", "trainer.max_epochs=1"])
    with pytest.raises(DataError) as err:
        train.run(cfg)
    assert str(err.value) == (
        f"2 data problem(s):\n  {root}/labels/train/grey.txt:2: malformed line '1 0.5 oops 0.2': expected "
        f"'class cx cy w h'\n  {root}/labels/train/grey.txt:3: class id 2 out of range [0, 2)")
    assert not (tmp_path / "run" / "checkpoints").exists() and not (tmp_path / "run" / "csv" / "metrics.csv").exists()


def test_configuration_errors_are_named(tmp_path):
    with pytest.raises(DataError, match=re.escape(f"{tmp_path}/nowhere: dataset path does not exist")):
        DefectDataModule(str(tmp_path / "nowhere")).setup("fit")
    root = write_yolo(tmp_path / "ds", {"train": {"a.png": good(1)}, "val": {"b.png": good(2)}}, NAMES)
    with pytest.raises(DataError, match=r"data.yaml: no 'test' split is defined"):
        DefectDataModule(str(root), test_split="test").setup("test")
    (root / "images" / "val" / "b.png").unlink()
    with pytest.raises(DataError, match=re.escape(f"{root}/images/val: the 'val' split has no usable images")):
        DefectDataModule(str(root)).setup("fit")
    shutil.rmtree(root / "images" / "val")
    with pytest.raises(DataError, match=re.escape(f"{root}/images/val: 'val' image folder does not exist")):
        DefectDataModule(str(root)).setup("fit")


def test_coco_problems(tmp_path):
    root = write_coco(tmp_path / "coco", {"train": {"a.png": good(1), "b.png": good(2), "c.png": good(3)},
                                          "val": {"d.png": good(4)}}, NAMES)
    path = root / "annotations" / "instances_train.json"
    data = json.loads(path.read_text())
    data["annotations"][0]["category_id"] = 7
    data["annotations"][1]["bbox"] = ["4", 4, 16, 16]
    data["annotations"].append({"id": 9, "image_id": 99, "category_id": 1, "bbox": [1, 1, 2, 2]})
    path.write_text(json.dumps(data, indent=1))
    (root / "images" / "train" / "c.png").unlink()
    records, problems = open_dataset(root).load("train")
    assert [str(p) for p in problems] == [
        f"{path}: annotation id 9: image_id 99 is not in 'images'",
        f"{path}: annotation id 1: category_id 7 is not in 'categories'",
        f"{path}: annotation id 2: malformed bbox ['4', 4, 16, 16]: expected 4 numbers [x, y, width, height]",
        f"{root}/images/train/c.png: image file not found (image id 3 in instances_train.json); skipped",
    ]
    assert [p.fatal for p in problems] == [True, True, True, False]
    assert len(records) == 2
    (root / "annotations" / "instances_val.json").write_text('{"images": [],\n "annotations": [,]}')
    with pytest.raises(DataError, match=r"instances_val.json:2: not valid JSON: Expecting value"):
        open_dataset(root).load("val")


def test_voc_problems(tmp_path):
    root = write_voc(tmp_path / "voc", {"train": {"a.png": good(1), "b.png": good(2), "c.png": good(3)},
                                        "val": {"d.png": good(4)}}, NAMES)
    ann = root / "Annotations"
    (ann / "a.xml").write_text((ann / "a.xml").read_text().replace("<xmin>5</xmin>", "<xmin>five</xmin>"))
    (ann / "b.xml").write_text((ann / "b.xml").read_text().replace("</annotation>", ""))
    (ann / "c.xml").unlink()
    (root / "classes.txt").write_text("crack\n")
    reader = open_dataset(root)
    assert reader.class_names == ["crack"]
    _, problems = reader.load("train")
    assert [str(p) for p in problems] == [
        f"{ann}/b.xml:20: malformed XML: no element found: line 20, column 0",
        f"{ann}/a.xml:9: malformed object 'crack': <bndbox> needs numeric <xmin>, <ymin>, <xmax>, <ymax>",
        f"{ann}/c.xml: missing annotation file; image used as background",
    ]
    assert [p.fatal for p in problems] == [True, True, False]
    (root / "classes.txt").write_text("pit\n")
    _, problems = open_dataset(root).load("val")
    assert [str(p) for p in problems] == [f"{ann}/d.xml:9: class 'crack' is not in classes.txt"]


def test_remembered_verdicts_follow_file_changes(tmp_path):
    root = write_yolo(tmp_path / "ds", {"train": {"a.png": good(1)}, "val": {"b.png": good(2)}}, NAMES)
    splits = {"train": "train", "val": "val"}
    assert not scan(open_dataset(root), splits, cache_dir=str(tmp_path / "cache")).problems
    (cache_file,) = (tmp_path / "cache").glob("*.json")
    assert sorted(json.loads(cache_file.read_text())) == [f"{root}/images/train/a.png", f"{root}/images/val/b.png"]
    (root / "images" / "val" / "b.png").write_bytes(truncated_jpeg(5))  # same path, new size and mtime
    result = scan(open_dataset(root), splits, cache_dir=str(tmp_path / "cache"))
    assert [p.kind for p in result.problems] == ["image", "config"]  # unreadable, then val has no usable image


def test_the_ram_cache_stops_at_its_memory_budget(synthetic_root):
    """Images beyond the budget are not kept (they are read from disk as usual); the records stay complete."""
    one_image = 160 * 160 * 3
    cache = ImageCache(budget=5 * one_image)
    result = scan(open_dataset(synthetic_root), {"train": "train", "val": "val"}, on_image=cache.add)
    assert len(cache) == 5 and cache.nbytes == 5 * one_image
    assert len(result.records["train"]) == 48 and len(result.records["val"]) == 16
    cache = ImageCache(budget=10**12)
    scan(open_dataset(synthetic_root), {"train": "train"}, on_image=cache.add)
    assert len(cache) == 48


def test_the_scan_hands_over_known_images_too(tmp_path):
    """Remembered verdicts skip the decoding, except for a sink: it gets every usable image, once, in order."""
    root = write_yolo(tmp_path / "ds", {"train": {"a.png": good(1), "b.png": good(2)}, "val": {"c.png": good(3)}},
                      NAMES)
    splits = {"train": "train", "val": "val"}
    scan(open_dataset(root), splits)  # the verdicts are known from here on
    seen = []
    scan(open_dataset(root), splits, on_image=lambda path, image: seen.append((path, image.shape)))
    assert seen == [(f"{root}/images/{split}/{name}", (40, 40, 3))
                    for split, name in (("train", "a.png"), ("train", "b.png"), ("val", "c.png"))]


def test_the_datamodule_owns_one_cache_its_datasets_share(synthetic_root):
    datamodule = DefectDataModule(str(synthetic_root), img_size=64, loader=LoaderSettings(num_workers=0),
                                  cache=CacheSettings(ram=True))
    datamodule.setup("fit")
    train_set, val_set = datamodule.datasets["train"], datamodule.datasets["val"]
    assert train_set.cache is val_set.cache and len(train_set.cache) == 64
    assert all(r.path in train_set.cache for r in train_set.records + val_set.records)
    assert DefectDataModule(str(synthetic_root), img_size=64).cache == CacheSettings(ram=False, check_dir=None)
    with pytest.raises(ValueError, match=r"data\.cache\.ram='ram': true or false"):
        CacheSettings(ram="ram")
