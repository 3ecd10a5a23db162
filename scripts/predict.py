"""Predict on images: ``python scripts/predict.py ckpt_path=... input=<image, folder or glob> [output=dir]``."""

from yololab.cli import predict

if __name__ == "__main__":
    predict()
