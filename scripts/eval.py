"""Evaluate a checkpoint: ``python scripts/eval.py ckpt_path=... [split=val|test]``."""

from yololab.cli import evaluate

if __name__ == "__main__":
    evaluate()
