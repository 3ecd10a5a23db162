"""Dataset files as a hostile (or careless) user writes them, on real files: each stops with one message naming the
file and the key, raised on purpose (the entry points print it alone and exit with 1); nothing is dropped silently;
a label or annotation that is a folder or a FIFO is named as such and never opened (a FIFO would block)."""

import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from tests.conftest import REPO
from tests.writers import distinct_image, save_image, voc_xml, write_coco, write_voc, write_yolo

from yololab.cli import deliberate
from yololab.data.formats import open_dataset
from yololab.data.records import DataError

NAMES = ["crack", "pit"]


def good(seed: int, box=(0, 4, 4, 20, 20)):
    return distinct_image(seed, 40, 40), [box]


def problems_of(root) -> list[str]:
    """Every fatal problem of the dataset at ``root`` (opened, then every split loaded), as printed; an error that
    stops the opening or a split must have been raised on purpose. In a thread: a reader opening a FIFO blocks."""
    found: list = []

    def read() -> None:
        try:
            reader = open_dataset(root)
            for split in reader.splits():
                found.extend(p for p in loaded_problems(reader, split) if p.fatal)
        except DataError as err:
            found.extend(raised_problems(err))

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    thread.join(30)
    assert not thread.is_alive(), "reading the dataset blocked"
    return [str(p) for p in found]


def raised_problems(err: DataError) -> list:
    assert deliberate(err) is err, f"not raised on purpose: {err!r}"
    return err.problems


def loaded_problems(reader, split: str) -> list:
    try:
        return reader.load(split)[1]
    except DataError as err:
        return raised_problems(err)


def yolo_set(root):
    return write_yolo(root, {"train": {"a.png": good(1)}, "val": {"b.png": good(2)}}, NAMES)


@pytest.mark.parametrize(("text", "message"), [
    ("nc: abc\nnames: [crack, pit]\n", "nc: expected the number of classes (an integer), got 'abc'"),
    ("nc: 3\nnames: [crack, pit]\n", "nc=3 but 2 names"),
    ("names: 5\n", "names: expected a list of class names or a mapping {0: name, ...}, got 5"),
    ("names: {0: crack, x: pit}\n", "names: the keys must be the class ids 0..1, got 0, 'x'"),
    ("names: {0: crack, 2: pit}\n", "names: the keys must be the class ids 0..1, got 0, 2"),
    ("names: [crack, pit]\ntrain: [images/train, images/val]\n",
     "train: a list of folders is not supported: give one folder (e.g. images/train), or gather the images under one"),
])
def test_bad_data_yaml_keys_are_named(tmp_path, text, message):
    root = yolo_set(tmp_path / "ds")
    (root / "data.yaml").write_text("path: .\nval: images/val\n" + ("" if "train:" in text else "train: images/train\n")
                                    + text)
    assert problems_of(root) == [f"{root}/data.yaml: {message}"]


def test_a_data_yaml_that_is_a_list_is_named(tmp_path):
    root = yolo_set(tmp_path / "ds")
    (root / "data.yaml").write_text("- crack\n- pit\n")
    assert problems_of(root) == [f"{root}/data.yaml: a data.yaml is a mapping (path, train, val, names), not a list"]


def coco_set(root, edit) -> tuple:
    """A COCO set (train: a.png, b.png; val: c.png) with ``edit(train json, root)`` applied."""
    write_coco(root, {"train": {"a.png": good(1), "b.png": good(2)}, "val": {"c.png": good(3)}}, NAMES)
    path = root / "annotations" / "instances_train.json"
    data = json.loads(path.read_text())
    edit(data, root)
    path.write_text(json.dumps(data))
    return root, path


def outside_image(data, root):
    save_image(distinct_image(5, 40, 40), root.parent / "elsewhere.png")
    data["images"][1]["file_name"] = str(root.parent / "elsewhere.png")


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d, r: d["images"][0].pop("id"), "images[0]: no 'id' in {'file_name': 'a.png', 'height': 40, 'width': 40}"),
    (lambda d, r: d["images"].append(7), "images[2]: expected an object, got 7"),
    (lambda d, r: d["images"][1].update(file_name=None), "images[1]: file_name None is not a str"),
    (lambda d, r: d["categories"][1].pop("name"), "categories[1]: no 'name' in {'id': 2}"),
    (lambda d, r: d["images"][1].update(id=1), "images[1]: duplicate id 1 (also images[0])"),
    (lambda d, r: d["annotations"][0].update(bbox=[True, 4, 16, 16]),
     "annotation id 1: malformed bbox [True, 4, 16, 16]: expected 4 numbers [x, y, width, height]"),
    (lambda d, r: d["annotations"][0].update(bbox=True),
     "annotation id 1: malformed bbox True: expected 4 numbers [x, y, width, height]"),
    (lambda d, r: d["images"][1].update(file_name="../../../b.png"),
     "image id 2: file_name '../../../b.png' is outside the dataset folder {root}"),
    (outside_image, "image id 2: file_name '{root.parent}/elsewhere.png' is outside the dataset folder {root}"),
])
def test_bad_coco_entries_are_named(tmp_path, edit, message):
    root, path = coco_set(tmp_path / "ds", edit)
    message = message.replace("{root.parent}", str(root.parent)).replace("{root}", str(root))
    assert problems_of(root) == [f"{path}: {message}"]


def test_a_label_that_is_a_folder_or_a_fifo_is_named_and_never_opened(tmp_path):
    root = write_yolo(tmp_path / "yolo", {"train": {"a.png": good(1), "b.png": good(2)}, "val": {"c.png": good(3)}},
                      NAMES)
    labels = root / "labels" / "train"
    (labels / "a.txt").unlink()
    os.mkfifo(labels / "a.txt")
    (labels / "b.txt").unlink()
    (labels / "b.txt").mkdir()
    assert problems_of(root) == [f"{labels}/a.txt: a FIFO (named pipe), not a label file",
                                 f"{labels}/b.txt: a folder, not a label file"]

    voc = write_voc(tmp_path / "voc", {"all": {"a.png": good(1), "b.png": good(2)}}, NAMES)
    (voc / "Annotations" / "a.xml").unlink()
    os.mkfifo(voc / "Annotations" / "a.xml")
    assert problems_of(voc) == [f"{voc}/Annotations/a.xml: a FIFO (named pipe), not an annotation file"]

    coco, path = coco_set(tmp_path / "coco", lambda d, r: None)
    path.unlink()
    os.mkfifo(path)
    assert problems_of(coco) == [f"{path}: a FIFO (named pipe), not an annotation file"]


def test_two_images_of_one_name_are_named_both(tmp_path):
    """x.jpg and x.png would share x.txt (x.xml): one of them used to be read with the other's boxes, or dropped."""
    root = write_yolo(tmp_path / "yolo", {"train": {"x.png": good(1), "x.jpg": good(2)}, "val": {"c.png": good(3)}},
                      NAMES)
    assert problems_of(root) == [f"{root}/labels/train/x.txt: the label file of both x.jpg and x.png: rename one "
                                 "image (and give it its own labels)"]
    voc = write_voc(tmp_path / "voc", {"all": {"x.png": good(1), "x.jpg": good(2), "y.png": good(3)}}, NAMES)
    assert problems_of(voc) == [f"{voc}/JPEGImages/x.jpg: x.jpg and x.png would share one annotation file (x.xml): "
                                "rename one"]


def voc_file(root, relative: str, seed: int, box) -> None:
    """An image under JPEGImages/ and, beside it under Annotations/, its XML (same relative path)."""
    image = distinct_image(seed, 40, 40)
    save_image(image, root / "JPEGImages" / relative)
    xml = (root / "Annotations" / relative).with_suffix(".xml")
    xml.parent.mkdir(parents=True, exist_ok=True)
    xml.write_text(voc_xml(relative.rsplit("/", 1)[-1], image, [box], NAMES))


def test_voc_files_of_one_name_in_sub_folders_are_all_kept(tmp_path):
    root = tmp_path / "voc"
    boxes = {"a.png": (0, 1, 1, 11, 11), "left/a.png": (1, 2, 2, 22, 22), "right/a.png": (0, 3, 3, 33, 33)}
    for seed, (relative, box) in enumerate(boxes.items()):
        voc_file(root, relative, seed, box)
    reader = open_dataset(root, val_fraction=0.0)
    records, problems = reader.reader.load("all")
    assert not problems
    got = {os.path.relpath(r.path, root / "JPEGImages"): (r.labels.tolist(), r.boxes.tolist()) for r in records}
    assert got == {name: ([c], [[x1, y1, x2, y2]]) for name, (c, x1, y1, x2, y2) in boxes.items()}


def test_voc_pairs_flat_annotations_with_images_in_class_folders_unless_ambiguous(tmp_path):
    """NEU-DET's other release: ANNOTATIONS/x.xml, IMAGES/<class>/x.jpg. An image two XMLs could belong to stops."""
    root = tmp_path / "voc"
    voc_file(root, "a.png", 0, (0, 1, 1, 11, 11))
    (root / "JPEGImages" / "crack").mkdir()
    (root / "JPEGImages" / "a.png").rename(root / "JPEGImages" / "crack" / "a.png")
    records, problems = open_dataset(root, val_fraction=0.0).reader.load("all")
    assert not problems and [r.boxes.tolist() for r in records] == [[[1, 1, 11, 11]]]

    voc_file(root, "other/a.png", 1, (1, 2, 2, 22, 22))
    (root / "JPEGImages" / "other" / "a.png").unlink()
    assert problems_of(root) == [
        f"{root}/JPEGImages/crack/a.png: annotations of this name in several folders ({root}/Annotations/a.xml, "
        f"{root}/Annotations/other/a.xml): put the image at the same path under its folder as its XML under the "
        "annotations folder"]


def test_check_data_prints_the_message_alone_and_exits_with_1(tmp_path):
    root = yolo_set(tmp_path / "ds")
    (root / "data.yaml").write_text("train: images/train\nval: images/val\nnames: {0: crack, x: pit}\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    env.pop("HYDRA_FULL_ERROR", None)
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "check_data.py"), "data=neu_det",
                           f"data.root={root}", f"hydra.run.dir={tmp_path / 'run'}"],
                          env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert output.strip() == f"error: {root}/data.yaml: names: the keys must be the class ids 0..1, got 0, 'x'"


def test_records_are_unchanged_for_a_clean_voc_set(tmp_path):
    """The pairing by relative path reads a flat set as before: every image with its own boxes."""
    data = {"all": {f"{i}.png": good(i, (i % 2, 2, 2, 12 + i, 12 + i)) for i in range(4)}}
    root = write_voc(tmp_path / "voc", data, NAMES)
    records, problems = open_dataset(root, val_fraction=0.0).reader.load("all")
    assert not problems
    for record, (name, (_, [(c, *box)])) in zip(records, data["all"].items(), strict=True):
        assert record.path.endswith(name) and record.labels.tolist() == [c]
        np.testing.assert_allclose(record.boxes, [box])
