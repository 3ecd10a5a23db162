"""``python scripts/export_trunk.py <checkpoint> <output>``: a training checkpoint's trunk (backbone and neck, its
EMA weights) as a small file for ``model.init_from``; prints the file's size and sha256."""

from __future__ import annotations

import argparse
import sys

from yololab.checkpoints import CheckpointError
from yololab.trunk import export_trunk


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/export_trunk.py", description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint", help="a yololab training checkpoint, e.g. <run>/checkpoints/last.ckpt")
    parser.add_argument("output", help="the trunk file to write (a new file), e.g. trunks/neu_det.pt")
    args = parser.parse_args(argv)
    try:
        path, digest = export_trunk(args.checkpoint, args.output)
    except (CheckpointError, FileNotFoundError, FileExistsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB)\nsha256 {digest}\n"
          f"train a head on it: python scripts/train.py model.init_from={path} 'model.freeze=[backbone,neck]'")
    return 0
