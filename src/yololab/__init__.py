"""yololab: a Lightning + Hydra template for studying activation functions in YOLO detector heads."""

import os

# albumentations checks PyPI for a newer release when imported; yololab never reaches the network unasked
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
