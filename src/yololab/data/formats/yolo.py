"""YOLO text format: an ultralytics-style ``data.yaml``, ``images/<split>``, ``labels/<split>``.

Each label line is ``class cx cy w h`` normalised to the image size (a polygon ``class x1 y1 x2 y2 ...``
is read as its bounding box). Missing or empty label files mean images without defects (reported as
warnings, since they are as often a labelling slip).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from yololab.data.formats.common import (
    IMAGE_SUFFIXES,
    REGULAR,
    BoxCollector,
    background,
    file_kind,
    image_size,
    list_images,
)
from yololab.data.records import DataProblem, ImageRecord, config_error

SPLITS = ("train", "val", "test")


def read_data_yaml(root: Path) -> dict:
    path = root / "data.yaml"
    if not path.is_file():
        candidates = sorted(root.glob("*.yaml"))
        if len(candidates) != 1:
            raise config_error(path, "no data.yaml (YOLO format needs one)")
        path = candidates[0]
    try:
        meta = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise config_error(path, f"not valid YAML: {err}") from None
    if not isinstance(meta, dict):
        raise config_error(path, f"a data.yaml is a mapping (path, train, val, names), not a {type(meta).__name__}")
    meta["names"] = class_names(meta, path)
    for key in ("path", *SPLITS):
        value = meta.get(key)
        if isinstance(value, list):
            raise config_error(path, f"{key}: a list of folders is not supported: give one folder (e.g. "
                               f"images/{key}), or gather the images under one")
        if value is not None and not isinstance(value, str):
            raise config_error(path, f"{key}: expected a folder, got {value!r}")
    meta["_file"] = str(path)
    return meta


def class_names(meta: dict, path: Path) -> list[str]:
    """``names``: a list, or a mapping from the class ids 0..n-1 (ultralytics' form); ``nc`` must agree."""
    names = meta.get("names")
    if isinstance(names, dict):
        ids = list(names)
        if not all(type(i) is int for i in ids) or sorted(ids) != list(range(len(ids))):
            raise config_error(path, f"names: the keys must be the class ids 0..{len(ids) - 1}, got "
                               f"{', '.join(map(repr, ids))}")
        names = [names[k] for k in range(len(ids))]
    if names is None or names == []:
        raise config_error(path, "'names' (the class names) is missing")
    if not isinstance(names, list) or not all(isinstance(n, str | int | float) for n in names):
        raise config_error(path, f"names: expected a list of class names or a mapping {{0: name, ...}}, "
                           f"got {names!r}")
    nc = meta.get("nc", len(names))
    if type(nc) is not int:
        raise config_error(path, f"nc: expected the number of classes (an integer), got {nc!r}")
    if nc != len(names):
        raise config_error(path, f"nc={nc} but {len(names)} names")
    return [str(n) for n in names]


class YOLOFormat:
    """Reads one YOLO-format dataset folder."""

    name = "yolo"
    expects = "data.yaml"

    def __init__(self, root: str | Path, keep_difficult: bool = False) -> None:
        """``keep_difficult`` is accepted for a uniform interface: YOLO labels have no such flag."""
        self.root = Path(root)
        self.meta = read_data_yaml(self.root)
        self.class_names: list[str] = self.meta["names"]
        base = Path(self.meta.get("path") or ".")
        self.base = base if base.is_absolute() else (self.root / base)

    @staticmethod
    def detect(root: Path) -> bool:
        return (root / "data.yaml").is_file()

    def splits(self) -> list[str]:
        return [s for s in SPLITS if self.meta.get(s)]

    def image_dir(self, split: str) -> Path:
        entry = self.meta.get(split)
        if not entry:
            raise config_error(self.meta["_file"], f"no '{split}' split is defined")
        return self.base / str(entry)

    def load(self, split: str) -> tuple[list[ImageRecord], list[DataProblem]]:
        image_dir = self.image_dir(split)
        if not image_dir.is_dir():
            raise config_error(image_dir, f"'{split}' image folder does not exist")
        records, problems = [], []
        labelled: dict[Path, Path] = {}  # label file -> the image it was read for
        for image_path in list_images(image_dir):
            label_path = label_path_for(image_path)
            if label_path in labelled:
                problems.append(DataProblem(str(label_path), f"the label file of both {labelled[label_path].name} "
                                            f"and {image_path.name}: rename one image (and give it its own labels)",
                                            fatal=True))
                continue
            labelled[label_path] = image_path
            size = image_size(image_path, problems)
            if size is None:
                continue
            boxes = BoxCollector(str(label_path), len(self.class_names), *size, problems)
            kind = file_kind(label_path)
            if kind != REGULAR:
                if kind is None:
                    problems.append(background(label_path, "missing label file"))
                else:
                    boxes.reject(None, f"{kind}, not a label file")
                records.append(boxes.record(str(image_path)))
                continue
            self._parse(label_path, boxes)
            records.append(boxes.record(str(image_path), empty="empty label file"))
        return records, problems

    @staticmethod
    def _parse(label_path: Path, boxes: BoxCollector) -> None:
        for line_no, line in enumerate(label_path.read_text(errors="replace").splitlines(), 1):
            fields = line.split()
            if not fields:
                continue
            try:
                values = [float(v) for v in fields]
            except ValueError:
                boxes.reject(line_no, f"malformed line {line.strip()!r}: expected 'class cx cy w h'")
                continue
            if len(values) == 5:
                cx, cy, w, h = values[1:]
                xyxy = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
            elif len(values) >= 7 and len(values) % 2 == 1:
                pts = np.asarray(values[1:]).reshape(-1, 2)
                xyxy = (*pts.min(0), *pts.max(0))
            else:
                boxes.reject(line_no, f"malformed line {line.strip()!r}: expected 'class cx cy w h'")
                continue
            scale = (boxes.width, boxes.height) * 2
            boxes.add(line_no, values[0], [v * s for v, s in zip(xyxy, scale, strict=True)])


def label_path_for(image_path: Path) -> Path:
    """``.../images/<split>/x.jpg`` -> ``.../labels/<split>/x.txt`` (the last 'images' part is swapped)."""
    parts = list(image_path.parts)
    idx = len(parts) - 1 - parts[::-1].index("images") if "images" in parts else None
    if idx is None:
        return image_path.with_suffix(".txt")
    parts[idx] = "labels"
    return Path(*parts).with_suffix(".txt")


__all__ = ["IMAGE_SUFFIXES", "YOLOFormat", "label_path_for", "read_data_yaml"]
