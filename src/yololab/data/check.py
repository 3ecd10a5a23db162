"""The data check: every problem of a dataset at once, each with its file (and line).

Label problems come from the format readers; this module adds what needs the image bytes: every
image is decoded in full (a truncated JPEG fails only there) and hashed (duplicates). The verdicts
are remembered per file, keyed by size and modification time: in memory for the process, and in a
JSON file under ``cache_dir`` when one is given (``data.scan_cache``), so a later run decodes only
new or changed files. The dataset folder itself is never written to.
``scripts/check_data.py`` prints the report; the data module runs the same scan at setup.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from yololab.data.images import BROKEN_IMAGE_ERRORS, decode_with_depth, describe, digest
from yololab.data.records import CONFIG, DUPLICATE, IMAGE, KIND_SUMMARY, DataError, DataProblem, ImageRecord

# path -> [size, mtime_ns, digest, error, bit depth]: a second setup in the same process decodes nothing again
_VERDICTS: dict[str, list] = {}


@dataclass
class ScanResult:
    """Good records per split, every problem found, the decoded images when they were kept, and how many
    readable images were read at each bit depth (``8-bit``, ``16-bit (12 bits used)``, ...)."""

    records: dict[str, list[ImageRecord]]
    problems: list[DataProblem]
    images: dict[str, np.ndarray] = field(default_factory=dict)
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


def scan(reader, splits: dict[str, str], keep_images: bool = False, cache_dir: str | None = None) -> ScanResult:
    """Scan ``splits`` (key -> split name) of ``reader``; corrupt images are left out of the records."""
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
    budget = ram_cache_budget() if keep_images else 0
    for key, records in loaded.items():
        result.records[key], budget = _check_images(records, checker, first_seen, result, budget)
        if not result.records[key]:
            split = splits[key]
            result.problems.append(DataProblem(str(reader.image_dir(split)), f"the '{split}' split has no usable "
                                               "images", fatal=True, kind=CONFIG))
    checker.save(root)
    return result


def ram_cache_budget() -> int:
    """Bytes the RAM cache may take: half of the memory available now (the rest of the images are read
    from disk as usual), so a large dataset, or one copy per DDP rank, never runs the machine out of memory."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (ValueError, OSError, AttributeError):  # not POSIX: no cache rather than a guess
        return 0


def _check_images(records, checker: ImageChecker, first_seen: dict, result: ScanResult,
                  budget: int) -> tuple[list, int]:
    """The usable records, and what is left of ``budget`` (bytes for cached images) for the next split."""
    good = []
    for record in records:
        content, error, depth, image = checker.check(record.path, budget > 0)
        if error:
            result.problems.append(DataProblem(record.path, f"unreadable image ({error}); skipped", kind=IMAGE))
            continue
        result.depths[depth] += 1
        if content in first_seen and first_seen[content] != record.path:
            result.problems.append(DataProblem(record.path, f"same bytes as {first_seen[content]}",
                                               kind=DUPLICATE))
        first_seen.setdefault(content, record.path)
        if image is not None and image.nbytes <= budget:
            result.images[record.path] = image
            budget -= image.nbytes
        good.append(record)
    return good, budget


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
