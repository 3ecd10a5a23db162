"""The deep variant's depth from finished runs: ``python scripts/depth_search.py FOLDER [FOLDER ...] [--arm relu]``
(see src/yololab/study/depth.py)."""

from yololab.study.depth import main

if __name__ == "__main__":
    raise SystemExit(main())
