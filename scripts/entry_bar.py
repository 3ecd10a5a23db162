"""Which candidate arms reach a fraction of a reference arm's mean: ``python scripts/entry_bar.py CANDIDATES
--reference RUNS [--arm relu --metric val/mAP50 --fraction 0.8]`` (see src/yololab/study/entry_bar.py)."""

from yololab.study.entry_bar import main

if __name__ == "__main__":
    raise SystemExit(main())
