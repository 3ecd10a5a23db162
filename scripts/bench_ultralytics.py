"""The ultralytics side of ``scripts/benchmark.py``: YOLOv8n from scratch with ultralytics' defaults.

Runs with any Python that has ultralytics installed (it is never a dependency of yololab) and
imports nothing from yololab. Times training steps after a warm-up, data loading included.
"""

import argparse
import contextlib
import json
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True, help="a YOLO-format dataset folder with data.yaml")
    parser.add_argument("--imgsz", type=int, default=224)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=20, help="the run being sampled: mosaic is on in its first epoch")
    parser.add_argument("--out", required=True)
    parser.add_argument("--project", default=tempfile.gettempdir())
    args = parser.parse_args()

    import ultralytics
    import yaml
    from ultralytics import YOLO

    root = Path(args.data)
    meta = yaml.safe_load((root / "data.yaml").read_text())
    meta["path"] = str(root)  # absolute, so the run does not depend on ultralytics' datasets_dir
    Path(args.project).mkdir(parents=True, exist_ok=True)
    data_yaml = Path(args.project) / "data.yaml"
    data_yaml.write_text(yaml.safe_dump(meta))

    stamps = []

    def on_batch_end(trainer):
        stamps.append(time.perf_counter())
        if len(stamps) > args.warmup + args.steps:
            raise KeyboardInterrupt  # enough: stop without validating

    model = YOLO("yolov8n.yaml")
    model.add_callback("on_train_batch_end", on_batch_end)
    with contextlib.suppress(KeyboardInterrupt):
        model.train(data=str(data_yaml), imgsz=args.imgsz, batch=args.batch, epochs=args.epochs, device="cpu",
                    val=False, plots=False, project=args.project, name="bench", exist_ok=True, verbose=False)
    timed = stamps[args.warmup :]
    images = args.batch * (len(timed) - 1)
    result = {"version": ultralytics.__version__, "train_images_per_s": images / (timed[-1] - timed[0]),
              "steps": len(timed) - 1}
    Path(args.out).write_text(json.dumps(result))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
