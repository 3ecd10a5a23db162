"""Draw augmented training samples: ``python scripts/show_augmentations.py [data=...]`` (see configs/)."""

from yololab.cli import show_augmentations

if __name__ == "__main__":
    show_augmentations()
