"""Synthetic steel-surface defects: the embedded default dataset, generated on first use.

Each image is a procedural hot-rolled steel texture (rolling streaks, grain, uneven light) with
one to three defects of six kinds named after NEU-DET's classes. A defect is drawn as a mask,
so its box is the mask's exact bounds. Image ``i`` of a split depends on (seed, split, i) alone.
The set is written in YOLO format, so it is read by the same code as real data.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np

CLASS_NAMES = ("crazing", "inclusion", "patches", "pitted_surface", "rolled-in_scale", "scratches")
_SPLIT_KEYS = {"train": 0, "val": 1, "test": 2}


def _texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """Grey steel: a base level, horizontal rolling streaks, fine grain and a light gradient."""
    base = rng.uniform(95, 155)
    rows = cv2.GaussianBlur(rng.normal(0, 9, (size, 1)), (1, 0), sigmaX=0, sigmaY=2).reshape(size, 1)
    streaks = np.repeat(rows, size, axis=1) * rng.uniform(0.5, 1.0)
    grain = rng.normal(0, rng.uniform(3, 7), (size, size))
    ramp = np.linspace(-1, 1, size)
    light = rng.uniform(-12, 12) * ramp[None, :] + rng.uniform(-12, 12) * ramp[:, None]
    return base + streaks + grain + light + _distractors(rng, size)


def _distractors(rng: np.random.Generator, size: int) -> np.ndarray:
    """Unlabelled clutter a detector must learn to ignore: soft stains and isolated specks."""
    layer = np.zeros((size, size), np.float32)
    for _ in range(int(rng.integers(0, 3))):
        c = (int(rng.uniform(0, size)), int(rng.uniform(0, size)))
        cv2.circle(layer, c, int(rng.uniform(0.05, 0.15) * size), float(rng.choice([-1, 1]) * rng.uniform(8, 18)), -1)
    layer = cv2.GaussianBlur(layer, (0, 0), sigmaX=size / 30)
    for _ in range(int(rng.integers(0, 12))):
        c = (int(rng.uniform(0, size)), int(rng.uniform(0, size)))
        cv2.circle(layer, c, 1, float(rng.choice([-1, 1]) * rng.uniform(20, 40)), -1)
    return layer


def _crazing(rng, mask, x, y, w, h):
    """A network of fine cracks."""
    for _ in range(int(rng.integers(6, 12))):
        p = np.array([x + rng.uniform(0, w), y + rng.uniform(0, h)])
        for _ in range(int(rng.integers(2, 5))):
            q = np.clip(p + rng.normal(0, max(w, h) / 4, 2), [x, y], [x + w - 1, y + h - 1])
            cv2.line(mask, tuple(map(int, p)), tuple(map(int, q)), 1.0, 1)
            p = q
    return -rng.uniform(25, 45)


def _inclusion(rng, mask, x, y, w, h):
    """A dark elongated spot along the rolling direction."""
    axes = (max(w // 2, 2), max(h // 2, 2))
    cv2.ellipse(mask, (x + w // 2, y + h // 2), axes, rng.uniform(-15, 15), 0, 360, 1.0, -1)
    return -rng.uniform(25, 45)


def _patches(rng, mask, x, y, w, h):
    """A large, soft, irregular bright area."""
    for _ in range(int(rng.integers(3, 6))):
        cx, cy = x + rng.uniform(0.3, 0.7) * w, y + rng.uniform(0.3, 0.7) * h
        axes = (int(rng.uniform(0.2, 0.5) * w), int(rng.uniform(0.2, 0.5) * h))
        cv2.ellipse(mask, (int(cx), int(cy)), axes, rng.uniform(0, 180), 0, 360, 1.0, -1)
    return rng.uniform(15, 30)


def _pitted(rng, mask, x, y, w, h):
    """A cluster of small dark pits."""
    for _ in range(int(rng.integers(8, 20))):
        c = (int(x + rng.uniform(2, w - 2)), int(y + rng.uniform(2, h - 2)))
        cv2.circle(mask, c, int(rng.integers(1, 3)), 1.0, -1)
    return -rng.uniform(30, 50)


def _rolled_in_scale(rng, mask, x, y, w, h):
    """Scattered bright flakes pressed in along the rolling direction."""
    for _ in range(int(rng.integers(5, 10))):
        c = (int(x + rng.uniform(3, w - 3)), int(y + rng.uniform(2, h - 2)))
        axes = (int(rng.integers(3, 7)), int(rng.integers(1, 3)))
        cv2.ellipse(mask, c, axes, rng.uniform(-10, 10), 0, 360, 1.0, -1)
    return rng.uniform(25, 45)


def _scratch(rng, mask, x, y, w, h):
    """A long thin bright line running corner to corner across its box."""
    a, b = (int(rng.uniform(0, 0.2) * h) for _ in range(2))
    p, q = (x, y + a), (x + w - 1, y + h - 1 - b)
    if rng.random() < 0.5:  # the other diagonal
        p, q = (x, y + h - 1 - b), (x + w - 1, y + a)
    cv2.line(mask, p, q, 1.0, int(rng.integers(2, 4)))
    return rng.uniform(25, 45)


# (draw function, box width range, box height range) as fractions of the image side, per class
_DEFECTS = (
    (_crazing, (0.25, 0.45), (0.25, 0.45)),
    (_inclusion, (0.12, 0.30), (0.05, 0.10)),
    (_patches, (0.25, 0.45), (0.25, 0.45)),
    (_pitted, (0.18, 0.35), (0.18, 0.35)),
    (_rolled_in_scale, (0.25, 0.45), (0.12, 0.25)),
    (_scratch, (0.35, 0.70), (0.06, 0.30)),
)


def _free(box, taken) -> bool:
    x1, y1, x2, y2 = box
    return all(x2 <= a or x1 >= c or y2 <= b or y1 >= d for a, b, c, d in taken)


def render_image(seed: int, split: str, index: int, size: int) -> tuple[np.ndarray, list[tuple[int, ...]]]:
    """One uint8 grey image [size, size] and its labels as (class, x1, y1, x2, y2), pixel bounds."""
    rng = np.random.default_rng([seed, _SPLIT_KEYS[split], index])
    image = _texture(rng, size)
    labels, taken = [], []
    for _ in range(int(rng.integers(1, 4))):
        cls = int(rng.integers(len(_DEFECTS)))
        draw, wr, hr = _DEFECTS[cls]
        if rng.random() < 0.5:  # defects appear at both orientations
            wr, hr = hr, wr
        w, h = int(rng.uniform(*wr) * size), int(rng.uniform(*hr) * size)
        x, y = int(rng.uniform(0, size - w)), int(rng.uniform(0, size - h))
        if not _free((x, y, x + w, y + h), taken):
            continue
        mask = np.zeros((size, size), np.float32)
        contrast = draw(rng, mask, x, y, w, h)
        ys, xs = np.nonzero(mask)
        if len(xs) == 0:
            continue
        box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        taken.append(box)
        labels.append((cls, *box))
        image += cv2.GaussianBlur(mask, (3, 3), 0) * contrast
    return np.clip(image, 0, 255).astype(np.uint8), labels


class SyntheticDefects:
    """Writes the synthetic set in YOLO format: ``data.yaml``, ``images/<split>``, ``labels/<split>``."""

    def __init__(self, num_train: int = 800, num_val: int = 200, image_size: int = 160, seed: int = 0) -> None:
        self.counts = {"train": num_train, "val": num_val}
        self.image_size = image_size
        self.seed = seed
        self.class_names = list(CLASS_NAMES)

    def is_written(self, root: str | Path) -> bool:
        return (Path(root) / "data.yaml").is_file()

    def write(self, root: str | Path) -> Path:
        """Generate into a temporary folder, then rename it into place: concurrent writers are safe."""
        root = Path(root)
        if self.is_written(root):
            return root
        root.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
        try:
            for split, count in self.counts.items():
                self._write_split(tmp, split, count)
            names = ", ".join(self.class_names)
            (tmp / "data.yaml").write_text(
                f"# yololab synthetic defects, seed {self.seed}\npath: .\ntrain: images/train\nval: images/val\n"
                f"nc: {len(self.class_names)}\nnames: [{names}]\n"
            )
            os.replace(tmp, root)  # atomic; fails if another process already put a full copy there
        except OSError:
            if not self.is_written(root):
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return root

    def _write_split(self, root: Path, split: str, count: int) -> None:
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        s = self.image_size
        for i in range(count):
            image, labels = render_image(self.seed, split, i, s)
            cv2.imwrite(str(root / "images" / split / f"{i:05d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
            lines = [
                f"{c} {(x1 + x2) / 2 / s:.6f} {(y1 + y2) / 2 / s:.6f} {(x2 - x1) / s:.6f} {(y2 - y1) / s:.6f}"
                for c, x1, y1, x2, y2 in labels
            ]
            (root / "labels" / split / f"{i:05d}.txt").write_text("\n".join(lines) + "\n")
