"""Reading image files: the decoder every path shares, so a scanned, a cached and a loaded image agree."""

from __future__ import annotations

import hashlib
import io
import struct
from pathlib import Path

import cv2
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
    """RGB uint8 HxWx3 from encoded bytes (see :func:`decode_with_depth`)."""
    return decode_with_depth(data)[0]


def decode_with_depth(data: bytes) -> tuple[np.ndarray, str]:
    """RGB uint8 HxWx3 from encoded bytes, decoded in full (a truncated file raises OSError), and the bit depth
    it was read at (``8-bit``, or e.g. ``16-bit (12 bits used)``).

    Grayscale files are replicated to three channels. Pixels are taken as stored (EXIF orientation
    is not applied), the same frame the header sizes and the label coordinates refer to. Images of more
    than 8 bits (16-bit PNG and TIFF, grey or colour) are scaled by the bits they use; see :func:`to_uint8`.
    """
    with Image.open(io.BytesIO(data)) as img:
        if img.mode == "F":
            raise ValueError("32-bit float pixels are not supported (save the image as 8- or 16-bit)")
        if img.mode.startswith("I"):  # I;16, I;16B, I: one channel of more than 8 bits
            grey, bits = to_uint8(np.asarray(img))
            return np.repeat(grey[..., None], 3, axis=2), bits
        if img.mode in ("RGB", "RGBA") and ";16" in _rawmode(img):  # PIL would keep each channel's high byte
            pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
            if pixels is None or pixels.ndim != 3 or pixels.shape[2] < 3:
                raise OSError("a 16-bit colour image OpenCV cannot decode")
            rgb, bits = to_uint8(np.ascontiguousarray(pixels[..., 2::-1]))
            return rgb, bits
        return np.array(img.convert("RGB")), "8-bit"  # a writable array (asarray's is read-only)


def _rawmode(img: Image.Image) -> str:
    """How PIL unpacks the pixel data (e.g. ``RGB;16B`` for a 48-bit PNG): PIL reports 16-bit colour as RGB."""
    args = img.tile[0].args if img.tile else ""
    return str(args[0] if isinstance(args, tuple) and args else args)


def to_uint8(pixels: np.ndarray) -> tuple[np.ndarray, str]:
    """8-bit pixels from more than 8: ``round(v * 255 / (2**b - 1))``, with ``b`` the fewest of 8, 10, 12, 14
    or 16 bits that hold the image's largest value.

    So a full-range 16-bit image is scaled by 255/65535, and a 12-bit camera's image stored in a 16-bit file
    (values up to 4095) by 255/4095: both keep their gradation, where PIL's ``convert`` clips everything above
    255. ``b`` comes from each image's largest value, so a very dark image may be read as fewer bits; the data
    check reports the depths it saw.
    """
    if pixels.size and (pixels.min() < 0 or pixels.max() > 65535):
        raise ValueError(f"pixel values {pixels.min()}..{pixels.max()} lie outside 16 bits")
    peak = int(pixels.max()) if pixels.size else 0
    bits = next(b for b in (8, 10, 12, 14, 16) if peak < 2**b)
    scaled = np.rint(pixels.astype(np.float32) * (255 / (2**bits - 1))).astype(np.uint8)
    return scaled, f"16-bit ({bits} bits used)"


def read_image(path: str) -> np.ndarray:
    """RGB uint8 HxWx3 of an image file; a clear DataError naming the file if it cannot be read."""
    try:
        return decode(Path(path).read_bytes())
    except BROKEN_IMAGE_ERRORS as err:
        raise DataError([DataProblem(path, f"unreadable image ({describe(err)})", fatal=True, kind=IMAGE)]) from None


def digest(data: bytes) -> str:
    """Content hash that finds duplicate images."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()
