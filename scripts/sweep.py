"""Run a W&B sweep file locally: ``python scripts/sweep.py sweep.yaml [--jobs K] [--dry-run] [-- overrides]``
(see yololab/study/runner.py)."""

import sys

from yololab.study.runner import main

if __name__ == "__main__":
    sys.exit(main())
