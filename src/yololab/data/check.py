"""The data check: every problem of a dataset at once, each with its file (and line).

Label problems come from the format readers; this module adds what needs the image bytes: every
image is decoded in full (a truncated JPEG fails only there) and hashed (duplicates). The verdicts
are remembered per file, keyed by size and modification time: in memory for the process, and in a
JSON file under ``cache_dir`` when one is given (``data.cache.check_dir``), so a later run decodes only
new or changed files. The dataset folder itself is never written to.
``scripts/check_data.py`` prints the report; the data module runs the same scan at setup, and may pass
an ``on_image`` sink: every readable image of the records kept is then decoded (known verdicts too) and
handed to it once, in record order (the RAM cache, ``data/image_cache.py``, is such a sink).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from yololab.data.images import BROKEN_IMAGE_ERRORS, decode_with_depth, describe, digest
from yololab.data.records import CONFIG, DUPLICATE, IMAGE, KIND_SUMMARY, DataError, DataProblem, ImageRecord

# path -> [size, mtime_ns, digest, error, bit depth]: a second setup in the same process decodes nothing again
_VERDICTS: dict[str, list] = {}


@dataclass
class ScanResult:
    """Good records per split, every problem found, and how many readable images were read at each bit
    depth (``8-bit``, ``16-bit (12 bits used)``, ...)."""

    records: dict[str, list[ImageRecord]]
    problems: list[DataProblem]
    depths: Counter = field(default_factory=Counter)

    @property
    def fatal(self) -> list[DataProblem]:
        return [p for p in self.problems if p.fatal]


class ImageChecker:
    """Decodes and hashes image files; remembers the verdicts, in ``cache_file`` too when given."""

    def __init__(self, cache_file: Path | None = None) -> None:
        self.cache_file = cache_file
        self.verdicts = _VERDICTS
        self.changed = False
        if cache_file is not None:
            with contextlib.suppress(OSError, ValueError):  # no cache yet, or a damaged one
                self.verdicts.update(json.loads(cache_file.read_text()))

    def check(self, path: str, keep: bool = False) -> tuple[str | None, str | None, str | None, np.ndarray | None]:
        """(digest, error, bit depth, image): error is why the image is unreadable; image only with ``keep``."""
        try:
            stat = os.stat(path)
        except OSError as err:
            return None, describe(err), None, None
        key = [stat.st_size, stat.st_mtime_ns]
        known = self.verdicts.get(path)
        if known and known[:2] == key and len(known) == 5 and not keep:
            return known[2], known[3], known[4], None
        image = error = depth = None
        data = b""
        try:
            data = Path(path).read_bytes()
            image, depth = decode_with_depth(data)
        except BROKEN_IMAGE_ERRORS as err:
            error = describe(err)
        self.verdicts[path] = [*key, digest(data), error, depth]
        self.changed = True
        return self.verdicts[path][2], error, depth, image if keep else None

    def save(self, prefix: str) -> None:
        """Write the verdicts of the paths under ``prefix`` to the cache file, atomically."""
        if not self.changed or self.cache_file is None:
            return
        mine = {path: v for path, v in self.verdicts.items() if path.startswith(prefix)}
        self.cache_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".scan-", dir=self.cache_file.parent)
        with os.fdopen(fd, "w") as f:
            json.dump(mine, f)
        os.replace(tmp, self.cache_file)


ImageSink = Callable[[str, np.ndarray], None]  # (path, decoded image) of each usable image


def scan(reader, splits: dict[str, str], cache_dir: str | None = None, on_image: ImageSink | None = None) -> ScanResult:
    """Scan ``splits`` (key -> split name) of ``reader``; corrupt images are left out of the records.
    ``on_image``, when given, receives every usable image as decoded by the check."""
    result = ScanResult({}, [])
    loaded = {}
    for key, split in splits.items():
        try:
            loaded[key], problems = reader.load(split)
        except DataError as err:
            result.problems += err.problems
            continue
        result.problems += problems
    root = str(reader.root)
    checker = ImageChecker(Path(cache_dir) / f"{digest(root.encode())}.json" if cache_dir else None)
    first_seen: dict[str, str] = {}
    for key, records in loaded.items():
        result.records[key] = _check_images(records, checker, first_seen, result, on_image)
        if not result.records[key]:
            split = splits[key]
            result.problems.append(DataProblem(str(reader.image_dir(split)), f"the '{split}' split has no usable "
                                               "images", fatal=True, kind=CONFIG))
    checker.save(root)
    return result


def _check_images(records, checker: ImageChecker, first_seen: dict, result: ScanResult,
                  on_image: ImageSink | None) -> list:
    """The usable records; each one's image goes to ``on_image`` when there is one."""
    good = []
    for record in records:
        content, error, depth, image = checker.check(record.path, on_image is not None)
        if error:
            result.problems.append(DataProblem(record.path, f"unreadable image ({error}); skipped", kind=IMAGE))
            continue
        result.depths[depth] += 1
        if content in first_seen and first_seen[content] != record.path:
            result.problems.append(DataProblem(record.path, f"same bytes as {first_seen[content]}",
                                               kind=DUPLICATE))
        first_seen.setdefault(content, record.path)
        if on_image is not None:
            on_image(record.path, image)
        good.append(record)
    return good


def counts(problems: list[DataProblem]) -> str:
    """How many problems of each kind, e.g. '2 unreadable image(s) skipped; 1 duplicate image(s)'."""
    by_kind = Counter(p.kind for p in problems)
    return "; ".join(f"{n} {KIND_SUMMARY.get(kind, kind)}" for kind, n in sorted(by_kind.items()))


def summary(problems: list[DataProblem], shown: int = 5) -> str:
    """The one warning training gives: the counts, then the first few problems."""
    lines = [counts(problems), *(f"  {p}" for p in problems[:shown])]
    if len(problems) > shown:
        lines.append(f"  ... {len(problems) - shown} more: python scripts/check_data.py lists them all")
    return "\n".join(lines)


def depth_summary(depths: Counter) -> str:
    """E.g. '40 images 8-bit, 8 images 16-bit (12 bits used)' (``data.images.to_uint8`` says how they are scaled)."""
    return ", ".join(f"{n} images {depth}" for depth, n in sorted(depths.items())) or "no readable image"


def report(result: ScanResult, class_names: list[str]) -> str:
    """The full report ``scripts/check_data.py`` prints: every problem, then the totals."""
    lines = [f"{'error' if p.fatal else 'warning'}: {p}" for p in result.problems]
    sizes = ", ".join(f"{key} {len(recs)} images" for key, recs in result.records.items())
    lines.append(f"{len(class_names)} classes; {sizes}")
    lines.append(f"bit depths: {depth_summary(result.depths)}")
    errors = len(result.fatal)
    lines.append(f"{errors} error(s), {len(result.problems) - errors} warning(s)"
                 + (f": {counts(result.problems)}" if result.problems else ""))
    return "\n".join(lines)
