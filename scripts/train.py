"""Train a detector: ``python scripts/train.py [overrides]`` (see configs/train.yaml)."""

from yololab.cli import train

if __name__ == "__main__":
    train()
