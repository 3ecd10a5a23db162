"""Write small real datasets in YOLO, COCO and Pascal VOC form from the same images and boxes.

A dataset here is ``{split: {file name: (image array, [(class id, x1, y1, x2, y2), ...])}}`` with
pixel boxes; ``names`` are the class names. Images are saved with PIL (PNG lossless; JPEG as given).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image


def distinct_image(seed: int, width: int = 64, height: int = 48, grey: bool = False) -> np.ndarray:
    """Noise, so no two test images share their bytes (which the check reports as duplicates)."""
    rng = np.random.default_rng(seed)
    shape = (height, width) if grey else (height, width, 3)
    return rng.integers(60, 200, shape, dtype=np.uint8)


def save_image(array: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def write_yolo(root: Path, data: dict, names: list[str]) -> Path:
    for split, images in data.items():
        for name, (image, boxes) in images.items():
            h, w = image.shape[:2]
            save_image(image, root / "images" / split / name)
            lines = [f"{c} {(x1 + x2) / 2 / w!r} {(y1 + y2) / 2 / h!r} {(x2 - x1) / w!r} {(y2 - y1) / h!r}"
                     for c, x1, y1, x2, y2 in boxes]
            label = root / "labels" / split / Path(name).with_suffix(".txt")
            label.parent.mkdir(parents=True, exist_ok=True)
            label.write_text("\n".join(lines) + "\n")
    splits = "".join(f"{split}: images/{split}\n" for split in data)
    (root / "data.yaml").write_text(f"path: .\n{splits}names: {list(names)}\n")
    return root


def coco_json(images: dict, names: list[str], crowd: frozenset = frozenset()) -> dict:
    """COCO dict; category ids start at 1 (as in COCO); ``crowd`` holds (file name, box index) pairs."""
    out = {"images": [], "annotations": [], "categories": [{"id": i + 1, "name": n} for i, n in enumerate(names)]}
    for image_id, (name, (image, boxes)) in enumerate(images.items(), 1):
        out["images"].append({"id": image_id, "file_name": name, "width": image.shape[1], "height": image.shape[0]})
        for k, (c, x1, y1, x2, y2) in enumerate(boxes):
            out["annotations"].append({"id": len(out["annotations"]) + 1, "image_id": image_id, "category_id": c + 1,
                                       "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1),
                                       "iscrowd": int((name, k) in crowd)})
    return out


def write_coco(root: Path, data: dict, names: list[str], crowd: frozenset = frozenset()) -> Path:
    for split, images in data.items():
        for name, (image, _) in images.items():
            save_image(image, root / "images" / split / name)
        path = root / "annotations" / f"instances_{split}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(coco_json(images, names, crowd), indent=1))
    return root


def voc_xml(name: str, image: np.ndarray, boxes: list, names: list[str], difficult: frozenset = frozenset()) -> str:
    """VOC devkit coordinates: 1-based and inclusive, so pixel box [x1, x2) is xmin=x1+1, xmax=x2."""
    h, w = image.shape[:2]
    depth = 1 if image.ndim == 2 else 3
    objects = "".join(
        f"  <object>\n    <name>{names[c]}</name>\n    <difficult>{int(k in difficult)}</difficult>\n"
        f"    <bndbox>\n      <xmin>{x1 + 1:g}</xmin>\n      <ymin>{y1 + 1:g}</ymin>\n"
        f"      <xmax>{x2:g}</xmax>\n      <ymax>{y2:g}</ymax>\n    </bndbox>\n  </object>\n"
        for k, (c, x1, y1, x2, y2) in enumerate(boxes))
    return (f"<annotation>\n  <folder>IMAGES</folder>\n  <filename>{name}</filename>\n  <size>\n"
            f"    <width>{w}</width>\n    <height>{h}</height>\n    <depth>{depth}</depth>\n  </size>\n{objects}"
            "</annotation>\n")


def write_voc(root: Path, data: dict, names: list[str], annotations: str = "Annotations", images: str = "JPEGImages",
              difficult: dict | None = None) -> Path:
    """With several splits, ``ImageSets/Main/<split>.txt`` lists them; with one, the set is single.
    ``difficult``: file name -> indices of its difficult boxes."""
    for split, split_images in data.items():
        for name, (image, boxes) in split_images.items():
            save_image(image, root / images / name)
            xml = root / annotations / Path(name).with_suffix(".xml")
            xml.parent.mkdir(parents=True, exist_ok=True)
            xml.write_text(voc_xml(name, image, boxes, names, frozenset((difficult or {}).get(name, ()))))
        if len(data) > 1:
            listing = root / "ImageSets" / "Main" / f"{split}.txt"
            listing.parent.mkdir(parents=True, exist_ok=True)
            listing.write_text("".join(f"{Path(n).stem}\n" for n in split_images))
    return root
