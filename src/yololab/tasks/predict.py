"""Prediction on image files: each image drawn with its detections, and one file of all detections.

What ``scripts/predict.py`` runs. The model and its defaults (confidence and IoU thresholds, image
size, detection cap) come from the checkpoint; the config overrides any of them.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from omegaconf import DictConfig
from torchvision.utils import draw_bounding_boxes

from yololab.data.records import DataError, DataProblem
from yololab.inference import common_root, gather_inputs, letterbox_batch, read_images
from yololab.module import YOLODetectorModule
from yololab.utils.outputs import check_new_output, make_folder, write_new

log = logging.getLogger(__name__)

# one colour per class id (cycled): distinct on grey steel
PALETTE = ["#ff3838", "#2c99a8", "#ffb21d", "#48f90a", "#cb38ff", "#00c2ff", "#ff37c7", "#3de0a0", "#ff9d97",
           "#8438ff"]
DETECTION_FIELDS = ("image", "width", "height", "class_id", "class_name", "score", "x1", "y1", "x2", "y2")


@dataclass(frozen=True)
class PredictSettings:
    conf: float
    iou: float
    img_size: int
    max_det: int
    batch_size: int

    def __post_init__(self) -> None:
        checks = {
            "conf": 0 <= self.conf <= 1, "iou": 0 <= self.iou <= 1, "max_det": self.max_det >= 1,
            "img_size": self.img_size >= 32 and self.img_size % 32 == 0, "batch_size": self.batch_size >= 1,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid setting(s) {', '.join(f'{k}={getattr(self, k)}' for k in bad)}: conf and iou "
                             "lie in [0, 1], img_size is a positive multiple of 32, max_det and batch_size >= 1")

    @classmethod
    def resolve(cls, cfg: DictConfig, module: YOLODetectorModule) -> PredictSettings:
        """The config's values; ``null`` ones come from the checkpoint (the module and its stored run config)."""
        defaults = {"conf": module.predict_conf_threshold, "iou": module.val_iou_threshold,
                    "img_size": module.config["data"]["img_size"], "max_det": module.max_detections, "batch_size": 8}
        values = {}
        for key, default in defaults.items():
            value = default if cfg.get(key) is None else cfg.get(key)
            try:
                values[key] = float(value) if key in ("conf", "iou") else int(value)
            except (TypeError, ValueError):
                raise ValueError(f"{key}={value!r} is not a number") from None
        return cls(**values)


@dataclass
class ImageResult:
    """One image's detections, boxes xyxy in its own pixels."""

    path: Path
    image: np.ndarray  # RGB uint8, as read
    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray


@torch.no_grad()
def predict_images(module: YOLODetectorModule, paths: list[Path], settings: PredictSettings,
                   problems: list[DataProblem]) -> Iterator[ImageResult]:
    """Detections for each readable image, batch by batch; each unreadable file is added to ``problems``."""
    device = next(module.parameters()).device
    for start in range(0, len(paths), settings.batch_size):
        loaded, bad = read_images(paths[start:start + settings.batch_size])
        problems.extend(bad)
        if not loaded:
            continue
        batch = letterbox_batch([image for _, image in loaded], settings.img_size, module.model.in_channels)
        batch = {k: v.to(device) for k, v in batch.items()}
        dets = module.detections(module.model(batch["images"]), batch, settings.conf, settings.iou, settings.max_det)
        for (path, image), det in zip(loaded, dets, strict=True):
            yield ImageResult(path, image, det["boxes"].cpu().numpy(), det["scores"].cpu().numpy(),
                              det["labels"].cpu().numpy())


def draw(result: ImageResult, class_names: list[str]) -> np.ndarray:
    """The image (RGB uint8) with each box, its class name and score drawn."""
    if not len(result.boxes):
        return result.image
    labels = [f"{class_names[c]} {s:.2f}" for c, s in zip(result.labels, result.scores, strict=True)]
    colors = [PALETTE[c % len(PALETTE)] for c in result.labels]
    drawn = draw_bounding_boxes(torch.from_numpy(result.image).permute(2, 0, 1), torch.from_numpy(result.boxes),
                                labels=labels, colors=colors, width=max(1, round(max(result.image.shape) / 320)),
                                fill_labels=True, label_colors="black")
    return drawn.permute(1, 2, 0).numpy()


def detection_rows(result: ImageResult, class_names: list[str]) -> list[dict]:
    h, w = result.image.shape[:2]
    return [
        {"image": str(result.path), "width": w, "height": h, "class_id": int(c), "class_name": class_names[c],
         "score": round(float(s), 5), **dict(zip(("x1", "y1", "x2", "y2"), (round(float(v), 2) for v in box),
                                                 strict=True))}
        for box, s, c in zip(result.boxes, result.scores, result.labels, strict=True)
    ]


def write_detections(path: Path, rows: list[dict], info: dict) -> None:
    """All detections in one new file: ``.json`` (rows with the run's settings and skipped files) or ``.csv``."""
    if path.suffix.lower() == ".csv":
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=DETECTION_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
        data = text.getvalue()
    else:
        data = json.dumps({**info, "detections": rows}, indent=1)
    write_new(path, data.encode(), "detections_file")


def plan_outputs(spec: str | Path, out_dir: Path) -> dict[Path, Path]:
    """Input image -> where its drawing goes: its place below the inputs' common folder, under ``out_dir``.

    No input file is ever written, nor any file that exists (an earlier run's drawing), nor anything through a
    link. A folder or pattern leaves out the images inside ``out_dir`` (earlier outputs), and nothing is
    planned if a destination is any file the input names (``output`` inside the input folder next to an
    original of the same name, or a pattern spanning folders) or another destination.
    """
    named = gather_inputs(spec)
    out = out_dir.resolve()
    inputs = named if Path(spec).expanduser().is_file() else [p for p in named if not p.resolve().is_relative_to(out)]
    if len(inputs) < len(named):
        log.info("left out %d image(s) inside output=%s", len(named) - len(inputs), out_dir)
    if not inputs:
        raise FileNotFoundError(f"every image input={spec} names is inside output={out_dir}: choose another output")
    root, taken, plan = common_root(inputs), {p.resolve() for p in inputs}, {}
    for path in inputs:
        dest = out_dir / path.resolve().relative_to(root)
        if dest.resolve() in taken:
            raise ValueError(f"output={out_dir} would overwrite {dest}, an image input={spec} names (or the drawing "
                             f"of another input); choose an output folder that holds none of the inputs")
        check_new_output(dest, out_dir, "output")
        taken.add(dest.resolve())
        plan[path] = dest
    return plan


def encoded(image: np.ndarray, suffix: str) -> bytes:
    """An RGB image encoded as its file name's format says."""
    ok, data = cv2.imencode(suffix, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"OpenCV cannot encode a {suffix} image")
    return data.tobytes()


def write_predictions(module: YOLODetectorModule, plan: dict[Path, Path], settings: PredictSettings):
    """Draw each readable image where ``plan`` says; (detection rows, images done, unreadable-file problems)."""
    problems, rows, done = [], [], []
    for result in predict_images(module, list(plan), settings, problems):
        dest = plan[result.path]
        write_new(dest, encoded(draw(result, module.class_names), dest.suffix), "output")
        rows.extend(detection_rows(result, module.class_names))
        done.append(str(result.path))
    return rows, done, problems


def run(cfg: DictConfig) -> dict:
    """Predict on ``cfg.input``; write the drawn images and ``cfg.detections_file`` into ``cfg.output``."""
    for key in ("ckpt_path", "input"):
        if not cfg.get(key):
            raise ValueError(f"{key} is required: python scripts/predict.py ckpt_path=path/to/last.ckpt "
                             "input=<image, folder or glob> [output=dir]")
    out_dir = Path(cfg.output)
    detections_file = out_dir / cfg.get("detections_file", "detections.json")
    if detections_file.suffix.lower() not in (".json", ".csv"):
        raise ValueError(f"detections_file must end in .json or .csv, got {detections_file.name}")
    make_folder(out_dir, "output")
    check_new_output(detections_file, out_dir, "detections_file")
    plan = plan_outputs(cfg.input, out_dir)
    module = YOLODetectorModule.from_checkpoint(cfg.ckpt_path)
    settings = PredictSettings.resolve(cfg, module)
    module.to(cfg.get("device") or ("cuda" if torch.cuda.is_available() else "cpu"))
    rows, done, problems = write_predictions(module, plan, settings)
    if problems:
        log.warning("skipped %d unreadable file(s):\n  %s", len(problems), "\n  ".join(map(str, problems)))
    if not done:
        raise DataError([*problems, DataProblem(str(cfg.input), "no readable image", fatal=True)])
    info = {"checkpoint": str(cfg.ckpt_path), "settings": asdict(settings), "class_names": module.class_names,
            "images": done, "skipped": [{"image": p.path, "error": p.message} for p in problems]}
    write_detections(detections_file, rows, info)
    log.info("%d image(s), %d detection(s), %d skipped; drawn images and %s in %s", len(done), len(rows),
             len(problems), detections_file.name, out_dir)
    return {"images": done, "detections": len(rows), "skipped": [p.path for p in problems],
            "detections_file": str(detections_file), "output": str(out_dir)}
