"""A study's runs per hour on this machine, by way of sharing the CPU:
``python scripts/benchmark_study.py <sweep file> [--epochs 2] [--out FILE] [-- overrides]``
(see yololab/study/throughput.py)."""

import sys

from yololab.study.throughput import main

if __name__ == "__main__":
    sys.exit(main())
