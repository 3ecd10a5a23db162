"""COCO JSON: one annotation file per split, images in a folder beside it.

Layouts read: ``annotations/instances_<split>.json`` (or ``annotations/<split>.json``) with images in
``images/<split>/``, ``<split>/`` or ``images/``; and ``<split>/_annotations.coco.json`` with the
images next to it. A single annotation file is a single set (see ``data/splits.py``).
Categories, sorted by id, become the contiguous classes. ``iscrowd`` boxes are left out unless
``keep_difficult`` (the same meaning as VOC's ``difficult``: not a training target, not ground truth).
"""

from __future__ import annotations

import json
import os
import reprlib
from pathlib import Path

from yololab.data.formats.common import REGULAR, BoxCollector, file_kind, image_size
from yololab.data.records import IMAGE, DataError, DataProblem, ImageRecord, config_error

ROBOFLOW_NAME = "_annotations.coco.json"


def annotation_files(root: Path) -> dict[str, Path]:
    """Split name -> annotation file."""
    files = {}
    folder = root / "annotations"
    if folder.is_dir():
        for path in sorted(folder.glob("*.json")):
            files[path.stem.removeprefix("instances_")] = path
    for path in sorted(root.glob(f"*/{ROBOFLOW_NAME}")):
        files[path.parent.name] = path
    return files


def read_json(path: Path) -> dict:
    kind = file_kind(path)
    if kind != REGULAR:
        raise DataError([DataProblem(str(path), f"{kind or 'nothing'}, not an annotation file", fatal=True)])
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise DataError([DataProblem(str(path), f"not valid JSON: {err.msg}", err.lineno, fatal=True)]) from None
    if not isinstance(data, dict):
        raise DataError([DataProblem(str(path), "not a COCO object (images, annotations, categories)", fatal=True)])
    missing = [k for k in ("images", "annotations", "categories") if not isinstance(data.get(k), list)]
    if missing:
        raise DataError([DataProblem(str(path), f"no {', '.join(repr(k) for k in missing)} list (not COCO?)",
                                     fatal=True)])
    problems = [DataProblem(str(path), f"{key}[{i}]: {why}", fatal=True)
                for key, required in REQUIRED.items() for i, entry in enumerate(data[key])
                if (why := entry_problem(entry, required))]
    problems = problems or duplicate_ids(path, data)
    if problems:
        raise DataError(problems)
    return data


# the keys each entry must have, with their types
REQUIRED = {"images": {"id": (int, str), "file_name": (str,)}, "annotations": {},
            "categories": {"id": (int,), "name": (str, int, float)}}


def entry_problem(entry, required: dict) -> str | None:
    """Why an entry of 'images', 'annotations' or 'categories' cannot be read, or None."""
    if not isinstance(entry, dict):
        return f"expected an object, got {reprlib.repr(entry)}"
    for key, types in required.items():
        if key not in entry:
            return f"no {key!r} in {reprlib.repr(entry)}"
        if not isinstance(entry[key], types) or isinstance(entry[key], bool):
            return f"{key} {entry[key]!r} is not a {' or '.join(t.__name__ for t in types)}"
    return None


def duplicate_ids(path: Path, data: dict) -> list[DataProblem]:
    """An id shared by two images (or two categories): annotations could not say which one they belong to."""
    problems = []
    for key in ("images", "categories"):
        first: dict = {}
        for i, entry in enumerate(data[key]):
            if entry["id"] in first:
                problems.append(DataProblem(str(path), f"{key}[{i}]: duplicate id {entry['id']!r} (also "
                                            f"{key}[{first[entry['id']]}])", fatal=True))
            first.setdefault(entry["id"], i)
    return problems


def inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` lies in ``folder`` by its name (``..`` and absolute paths resolved; links not followed,
    so a dataset may keep its images on another disk)."""
    return Path(os.path.normpath(path.absolute())).is_relative_to(os.path.normpath(folder.absolute()))


class COCOFormat:
    """Reads one COCO-format dataset folder."""

    name = "coco"
    expects = "annotations/*.json"

    def __init__(self, root: str | Path, keep_difficult: bool = False) -> None:
        self.root = Path(root)
        self.keep_difficult = keep_difficult
        self.files = annotation_files(self.root)
        if not self.files:
            raise config_error(self.root, "no COCO annotation file (annotations/*.json or */_annotations.coco.json)")
        self.categories = sorted(read_json(next(iter(self.files.values())))["categories"], key=lambda c: c["id"])
        self.category_index = {c["id"]: i for i, c in enumerate(self.categories)}
        self.class_names: list[str] = [str(c["name"]) for c in self.categories]

    @staticmethod
    def detect(root: Path) -> bool:
        return bool(annotation_files(root))

    def splits(self) -> list[str]:
        return list(self.files)

    def image_dir(self, split: str) -> Path:
        path = self._file(split)
        if path.name == ROBOFLOW_NAME:
            return path.parent
        candidates = (self.root / "images" / split, self.root / split, self.root / "images")
        return next((c for c in candidates if c.is_dir()), self.root)

    def _file(self, split: str) -> Path:
        if split not in self.files:
            raise config_error(self.root / "annotations", f"no '{split}' split (annotation files: "
                               f"{', '.join(self.files)})")
        return self.files[split]

    def load(self, split: str) -> tuple[list[ImageRecord], list[DataProblem]]:
        path = self._file(split)
        data, image_dir, problems = read_json(path), self.image_dir(split), []
        if sorted(data["categories"], key=lambda c: c["id"]) != self.categories:
            problems.append(DataProblem(str(path), "categories differ from the first annotation file's", fatal=True))
        by_image: dict = {image["id"]: [] for image in data["images"]}
        for ann in data["annotations"]:
            if ann.get("image_id") not in by_image:
                problems.append(DataProblem(str(path), f"annotation id {ann.get('id')}: image_id "
                                            f"{ann.get('image_id')} is not in 'images'", fatal=True))
                continue
            by_image[ann["image_id"]].append(ann)
        records = []
        for image in sorted(data["images"], key=lambda im: im["file_name"]):
            image_path = image_dir / image["file_name"]
            if not inside(image_path, self.root):
                problems.append(DataProblem(str(path), f"image id {image['id']}: file_name {image['file_name']!r} "
                                            f"is outside the dataset folder {self.root}", fatal=True))
                continue
            kind = file_kind(image_path)
            if kind != REGULAR:
                why = "image file not found" if kind is None else f"{kind}, not an image file"
                problems.append(DataProblem(str(image_path), f"{why} (image id {image['id']} in {path.name}); "
                                            "skipped", kind=IMAGE))
                continue
            size = image_size(image_path, problems)
            if size is None:
                continue
            boxes = BoxCollector(str(path), len(self.class_names), *size, problems)
            for ann in by_image[image["id"]]:
                self._add(ann, boxes)
            empty = f"image {image['file_name']!r} (id {image['id']}) has no annotations"
            records.append(boxes.record(str(image_path), empty=empty))
        return records, problems

    def _add(self, ann: dict, boxes: BoxCollector) -> None:
        where = f"annotation id {ann.get('id')}"
        bbox = ann.get("bbox")
        if not isinstance(bbox, list) or len(bbox) != 4 or not all(is_number(v) for v in bbox):
            boxes.reject(None, f"{where}: malformed bbox {bbox!r}: expected 4 numbers [x, y, width, height]")
            return
        if ann.get("category_id") not in self.category_index:
            boxes.reject(None, f"{where}: category_id {ann.get('category_id')} is not in 'categories'")
            return
        x, y, w, h = bbox
        if ann.get("iscrowd") and not self.keep_difficult:
            boxes.ignore(self.category_index[ann["category_id"]], (x, y, x + w, y + h))
            return
        boxes.add(None, self.category_index[ann["category_id"]], (x, y, x + w, y + h), where=f"{where}: ")


def is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
