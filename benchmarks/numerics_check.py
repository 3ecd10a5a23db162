"""Do ``numerics=portable`` runs give the same bits on another CPU model? (``python -m benchmarks.numerics_check``)

Trains the head-probe study's ``relu`` run of seed 0 for a few steps (its loss logged at every step) once per
mode, ``native`` and ``portable``, each in a new folder under ``logs/numerics_check/``, and writes the per-step
losses with this machine's environment record (CPU model, ATen's kernels, libraries) to ``--out``. Given
``--against`` a file written on another machine, it prints per mode how many steps' losses are the same bit for
bit; the exit status is 1 if portable's are not all the same. Needs NEU-DET (``--data-root``).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import subprocess
import sys
from pathlib import Path

from yololab.utils.numerics import MODES

RUN = ["experiment=study/head_probe", "model.head.activation=relu", "model.head.depth=2", "seed=0",
       "study_base=neu_det_probe", "threads=1", "trainer.log_every_n_steps=1"]


def train(mode: str, steps: int, data_root: str, folder: Path) -> dict:
    """One short run in ``folder`` (new); its losses per step, as the CSV log wrote them, and its environment."""
    command = [sys.executable, "scripts/train.py", *RUN, f"trainer.max_steps={steps}", f"numerics={mode}",
               f"data.root={data_root}", f"hydra.run.dir={folder}"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"error: {' '.join(command)} exited with {done.returncode}:\n{done.stderr[-2000:]}")
    rows = csv.DictReader((folder / "csv" / "metrics.csv").open())
    losses = {r["step"]: r["train/loss_step"] for r in rows if r.get("train/loss_step")}
    environment = json.loads((folder / "environment.json").read_text())[-1]
    return {"command": command[1:], "losses": losses, "environment": environment}


def compare(mine: dict, theirs: dict) -> tuple[int, int, str | None]:
    """(steps compared, steps identical, the first step that differs or None)."""
    steps = sorted(set(mine["losses"]) & set(theirs["losses"]), key=int)
    differ = [s for s in steps if mine["losses"][s] != theirs["losses"][s]]
    return len(steps), len(steps) - len(differ), (differ[0] if differ else None)


def read_trace(path: Path) -> dict:
    """A file this check wrote: {mode: {"losses": {step: loss}, "environment": {...}}}; exit 1 naming it if not."""
    try:
        trace = json.loads(path.read_text())
        if all(isinstance(trace[m]["losses"], dict) and isinstance(trace[m]["environment"], dict) for m in MODES):
            return trace
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        pass
    raise SystemExit(f"error: {path} is not a trace this check wrote (python -m benchmarks.numerics_check --out)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.numerics_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="the JSON file to write (must not exist)")
    parser.add_argument("--against", type=Path, help="a file this check wrote on another machine")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--data-root", default="../shared/datasets/neu-det")
    args = parser.parse_args(argv)
    if args.out.exists():
        raise SystemExit(f"error: {args.out} exists; not overwriting it")
    theirs = read_trace(args.against) if args.against else None
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S")
    root = Path("logs/numerics_check") / stamp
    root.mkdir(parents=True)  # a new folder per check: nothing of another run is written over
    mine = {mode: train(mode, args.steps, args.data_root, root / mode) for mode in MODES}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(mine, indent=1))
    print(f"written {args.out} ({mine['portable']['environment']['cpu_model']}, native kernels "
          f"{mine['native']['environment']['cpu_capability']})")
    if theirs is None:
        return 0
    for mode in MODES:
        n, same, first = compare(mine[mode], theirs[mode])
        there = theirs[mode]["environment"]
        print(f"{mode}: {same} of {n} steps' losses identical to {args.against} ({there['cpu_model']}, "
              f"{there['cpu_capability']} kernels)" + (f"; first difference at step {first}" if first else ""))
    n, same, _ = compare(mine["portable"], theirs["portable"])
    return 0 if n and same == n else 1


if __name__ == "__main__":
    raise SystemExit(main())
