"""Reading image files: the decoder every path shares, so a scanned, a cached and a loaded image agree."""

from __future__ import annotations

import hashlib
import io
import struct
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from yololab.data.records import IMAGE, DataError, DataProblem

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
# what PIL raises on broken files: OSError (truncated; UnidentifiedImageError is one), SyntaxError
# (broken PNG), ValueError and struct.error (damaged headers), DecompressionBombError
BROKEN_IMAGE_ERRORS = (OSError, SyntaxError, ValueError, struct.error, Image.DecompressionBombError)


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def describe(err: Exception) -> str:
    """Why PIL could not read a file, without the object addresses PIL puts in some messages."""
    if isinstance(err, UnidentifiedImageError):
        return "not an image file PIL can identify"
    if isinstance(err, FileNotFoundError):
        return "file not found"
    return str(err)


def unreadable(path: str | Path, err: Exception) -> DataProblem:
    return DataProblem(str(path), f"unreadable image ({describe(err)}); skipped", kind=IMAGE)


def image_size(path: Path, problems: list[DataProblem]) -> tuple[int, int] | None:
    """(width, height) from the image header; None, and a problem, if it is not an image."""
    try:
        with Image.open(path) as img:
            return img.size
    except BROKEN_IMAGE_ERRORS as err:
        problems.append(unreadable(path, err))
        return None


def decode(data: bytes) -> np.ndarray:
    """RGB uint8 HxWx3 from encoded bytes, decoded in full, so a truncated file raises OSError.

    Grayscale files are replicated to three channels. Pixels are taken as stored (EXIF orientation
    is not applied), the same frame the header sizes and the label coordinates refer to.
    """
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB"))


def read_image(path: str) -> np.ndarray:
    """RGB uint8 HxWx3 of an image file; a clear DataError naming the file if it cannot be read."""
    try:
        return decode(Path(path).read_bytes())
    except BROKEN_IMAGE_ERRORS as err:
        raise DataError([DataProblem(path, f"unreadable image ({describe(err)})", fatal=True, kind=IMAGE)]) from None


def digest(data: bytes) -> str:
    """Content hash that finds duplicate images."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()
