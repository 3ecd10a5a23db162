"""A checkpoint's trunk (backbone + neck) as a small weights file for ``model.init_from``:
``python scripts/export_trunk.py <run>/checkpoints/last.ckpt trunks/neu_det.pt`` (prints its sha256)."""

import sys

from yololab.tasks.export_trunk import main

if __name__ == "__main__":
    sys.exit(main())
