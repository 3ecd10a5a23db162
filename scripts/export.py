"""Export a checkpoint to ONNX, checked against PyTorch: ``python scripts/export.py ckpt_path=... format=onnx``."""

from yololab.cli import export

if __name__ == "__main__":
    export()
