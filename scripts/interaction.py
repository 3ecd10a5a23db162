"""An activation's effect under one head against another, seed by seed: ``python scripts/interaction.py X Y
[--arms ...] [--reference relu] [--measure val/mAP50-95|vanishing]`` (see src/yololab/study/interaction.py)."""

from yololab.study.interaction import main

if __name__ == "__main__":
    raise SystemExit(main())
