"""Write a study's report: ``python scripts/report.py <runs directory | W&B sweep id> [--out DIR]``
(see yololab/study/report.py)."""

import sys

from yololab.study.report import main

if __name__ == "__main__":
    sys.exit(main())
