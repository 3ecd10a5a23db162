"""Pascal VOC XML: an annotations folder and an images folder (``Annotations/`` + ``JPEGImages/``, or
``ANNOTATIONS/`` + ``IMAGES/`` as in NEU-DET's original release; names compared case-insensitively).

Splits come from ``ImageSets/Main/{train,val,test,trainval}.txt`` when present; otherwise the set is
single (see ``data/splits.py``). Class names come from ``classes.txt`` (one per line) when present,
otherwise from the ``<name>`` of every object, sorted. Coordinates follow the VOC devkit: 1-based
pixel indices, inclusive, so ``xmin=1, xmax=200`` spans pixels [0, 200). Objects marked
``difficult`` are left out unless ``keep_difficult``: they are neither training targets nor ground truth.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from yololab.data.formats.common import (
    REGULAR,
    BoxCollector,
    background,
    file_kind,
    find_child,
    image_size,
    list_images,
)
from yololab.data.records import IMAGE, DataProblem, ImageRecord, config_error

SPLIT_FILES = ("train", "val", "test", "trainval")
ALL = "all"


class VOCObject:
    """One ``<object>``: its line, class name, difficult flag and VOC corners, or why it is malformed."""

    def __init__(self, line: int | None, name: str, difficult: bool = False,
                 corners: tuple[float, ...] | None = None, error: str | None = None) -> None:
        self.line, self.name, self.difficult, self.corners, self.error = line, name, difficult, corners, error


def parse_object(obj: ET.Element, line: int | None) -> VOCObject:
    name = (obj.findtext("name") or "").strip()
    if not name:
        return VOCObject(line, name, error="object without a <name>")
    try:
        box = obj.find("bndbox")
        corners = tuple(float(box.findtext(key)) for key in ("xmin", "ymin", "xmax", "ymax"))
    except (AttributeError, TypeError, ValueError):
        return VOCObject(line, name, error=f"malformed object {name!r}: <bndbox> needs numeric <xmin>, <ymin>, "
                         "<xmax>, <ymax>")
    difficult = (obj.findtext("difficult") or "0").strip().lower() in ("1", "true")
    return VOCObject(line, name, difficult, corners)


def parse_xml(path: Path, problems: list[DataProblem]) -> list[VOCObject] | None:
    """The objects of one annotation file; None (and a fatal problem) if it is not a well-formed XML file."""
    kind = file_kind(path)
    if kind != REGULAR:  # a FIFO would block the read
        problems.append(DataProblem(str(path), f"{kind}, not an annotation file", fatal=True))
        return None
    text = path.read_text(errors="replace")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as err:
        problems.append(DataProblem(str(path), f"malformed XML: {err}", err.position[0], fatal=True))
        return None
    # ElementTree keeps no line numbers: the k-th <object> element starts at the k-th "<object" tag
    lines = [text.count("\n", 0, m.start()) + 1 for m in re.finditer(r"<object[\s>]", text)]
    return [parse_object(obj, lines[k] if k < len(lines) else None) for k, obj in enumerate(root.iter("object"))]


class VOCFormat:
    """Reads one Pascal VOC dataset folder."""

    name = "voc"
    expects = "an annotations folder of .xml files"

    def __init__(self, root: str | Path, keep_difficult: bool = False) -> None:
        self.root = Path(root)
        self.keep_difficult = keep_difficult
        self.ann_dir = annotations_dir(self.root)
        self.img_dir = find_child(self.root, "JPEGImages", "images")
        if self.ann_dir is None or self.img_dir is None:
            raise config_error(self.root, "a VOC dataset needs an annotations folder of .xml files and an "
                               "images folder (Annotations/ + JPEGImages/ or ANNOTATIONS/ + IMAGES/)")
        self.parse_problems: list[DataProblem] = []
        self.pairs = pair_files(list_images(self.img_dir), self.img_dir, sorted(self.ann_dir.rglob("*.xml")),
                                self.ann_dir, self.parse_problems)
        self.objects = {xml: parse_xml(xml, self.parse_problems) for _, xml in self.pairs.values() if xml}
        self.class_names = self._class_names()
        self.class_index = {name: i for i, name in enumerate(self.class_names)}
        self.sets = self._sets()

    @staticmethod
    def detect(root: Path) -> bool:
        return annotations_dir(root) is not None

    def _class_names(self) -> list[str]:
        listed = self.root / "classes.txt"
        if listed.is_file():
            return [n.strip() for n in listed.read_text().splitlines() if n.strip()]
        return sorted({o.name for objs in self.objects.values() for o in objs or [] if o.name})

    def _sets(self) -> dict[str, list[str]]:
        """Split -> image ids: ImageSets/Main lists when present, else one set of every image and XML."""
        main = self.root / "ImageSets" / "Main"
        listed = {s: main / f"{s}.txt" for s in SPLIT_FILES if (main / f"{s}.txt").is_file()}
        if listed:
            return {s: [ln.split()[0] for ln in p.read_text().splitlines() if ln.strip()] for s, p in listed.items()}
        return {ALL: sorted(self.pairs)}

    def splits(self) -> list[str]:
        return list(self.sets)

    def image_dir(self, split: str) -> Path:
        if split not in self.sets:
            raise config_error(self.root, f"no '{split}' split (VOC splits: {', '.join(self.sets)})")
        return self.img_dir

    def _pair(self, image_id: str) -> tuple[Path | None, Path | None]:
        """(image, XML) of an id of ImageSets/Main: its path relative to the folders, or its unique stem."""
        if image_id in self.pairs:
            return self.pairs[image_id]
        found = [pair for key, pair in self.pairs.items() if key.rsplit("/", 1)[-1] == image_id]
        return found[0] if len(found) == 1 else (None, None)

    def load(self, split: str) -> tuple[list[ImageRecord], list[DataProblem]]:
        self.image_dir(split)
        pairs = [(image_id, *self._pair(image_id)) for image_id in self.sets[split]]
        wanted = {str(path) for pair in pairs for path in pair[1:] if path}
        tied = {str(path) for pair in self.pairs.values() for path in pair if path}
        # problems of this split's files, and those of files no split can name (an image of ambiguous XML)
        problems = [p for p in self.parse_problems if p.path in wanted or p.path not in tied]
        records = []
        for image_id, image, xml in pairs:
            if image is None:
                where = xml or self.img_dir / image_id
                problems.append(DataProblem(str(where), "no image file for this annotation; skipped", kind=IMAGE))
                continue
            record = self._record(image, xml or self.ann_dir / f"{image_id}.xml", problems)
            if record is not None:
                records.append(record)
        return records, problems

    def _record(self, image_path: Path, xml: Path, problems: list[DataProblem]) -> ImageRecord | None:
        size = image_size(image_path, problems)
        if size is None:
            return None
        boxes = BoxCollector(str(xml), len(self.class_names), *size, problems)
        if xml not in self.objects:
            problems.append(background(xml, "missing annotation file"))
            return boxes.record(str(image_path))
        if self.objects[xml] is None:  # malformed XML, already reported
            return boxes.record(str(image_path))
        for obj in self.objects[xml]:
            if obj.error:
                boxes.reject(obj.line, obj.error)
            elif obj.name not in self.class_index:
                boxes.reject(obj.line, f"class {obj.name!r} is not in classes.txt")
            elif obj.difficult and not self.keep_difficult:
                x1, y1, x2, y2 = obj.corners
                boxes.ignore(self.class_index[obj.name], (x1 - 1, y1 - 1, x2, y2))
            else:
                x1, y1, x2, y2 = obj.corners
                boxes.add(obj.line, self.class_index[obj.name], (x1 - 1, y1 - 1, x2, y2))
        return boxes.record(str(image_path), empty="no <object> in annotation file")


def relative_ids(paths: list[Path], folder: Path, problems: list[DataProblem]) -> dict[str, Path]:
    """Each file by its path under ``folder`` without the suffix (``sub/x``); two images of one id (``x.jpg``
    and ``x.png``) are a fatal problem naming both."""
    ids: dict[str, Path] = {}
    for path in paths:
        key = path.relative_to(folder).with_suffix("").as_posix()
        if key in ids:
            problems.append(DataProblem(str(ids[key]), f"{ids[key].name} and {path.name} would share one annotation "
                                        f"file ({key}.xml): rename one", fatal=True))
            continue
        ids[key] = path
    return ids


def pair_files(images: list[Path], img_dir: Path, xmls: list[Path], ann_dir: Path,
               problems: list[DataProblem]) -> dict[str, tuple[Path | None, Path | None]]:
    """Image id (path under the images folder, no suffix) -> (image, XML); an XML without image has its own id.

    An image pairs with the XML at the same relative path (sub-folders mirrored), else with the one XML of its
    file name (flat annotations, images in class folders). An image that several XMLs could belong to, and an
    XML that two images would share, are fatal problems: nothing is dropped silently."""
    xml_ids = relative_ids(xmls, ann_dir, problems)
    image_ids = relative_ids(images, img_dir, problems)
    by_stem: dict[str, list[str]] = {}
    for key in xml_ids:
        by_stem.setdefault(key.rsplit("/", 1)[-1], []).append(key)
    pairs: dict[str, tuple[Path | None, Path | None]] = {}
    owner: dict[str, Path] = {}  # XML id -> the image it was paired with
    for key, image in image_ids.items():
        candidates = [key] if key in xml_ids else by_stem.get(key.rsplit("/", 1)[-1], [])
        if len(candidates) > 1:
            problems.append(DataProblem(str(image), "annotations of this name in several folders ("
                                        f"{', '.join(str(xml_ids[k]) for k in candidates)}): put the image at the "
                                        "same path under its folder as its XML under the annotations folder",
                                        fatal=True))
            continue
        if candidates and candidates[0] in owner:
            problems.append(DataProblem(str(xml_ids[candidates[0]]), f"the annotation of both {owner[candidates[0]]}"
                                        f" and {image}: mirror the image folders in the annotations folder",
                                        fatal=True))
            continue
        if candidates:
            owner[candidates[0]] = image
        pairs[key] = (image, xml_ids[candidates[0]] if candidates else None)
    pairs.update({key: (None, xml) for key, xml in xml_ids.items() if key not in owner and key not in pairs})
    return pairs


def annotations_dir(root: Path) -> Path | None:
    folder = find_child(root, "Annotations")
    return folder if folder is not None and any(folder.rglob("*.xml")) else None
