"""Training-loader images/s: ``python scripts/benchmark_loader.py [data.root=...]`` (configs/benchmark_loader.yaml)."""

from yololab.cli import benchmark_loader

if __name__ == "__main__":
    benchmark_loader()
