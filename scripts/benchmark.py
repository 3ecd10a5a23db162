"""Speed benchmark against ultralytics YOLOv8n: ``python scripts/benchmark.py`` (see configs/benchmark.yaml)."""

from yololab.cli import benchmark

if __name__ == "__main__":
    benchmark()
