"""Scaffold a new study: ``python scripts/new_study.py NAME`` (see yololab/study/scaffold.py)."""

import sys

from yololab.study.scaffold import main

if __name__ == "__main__":
    sys.exit(main())
