"""Start a new study: ``python scripts/new_study.py NAME`` writes ``configs/experiment/study/NAME.yaml`` (what every
run of the study shares), ``studies/NAME/sweep.yaml`` (the arms and seeds) and ``studies/NAME/study.yaml`` (what
the report tests: baseline, margin, claims), and never overwrites a file."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

MAX_NAME = 48
NAME = re.compile(r"^[a-z][a-z0-9_-]*$")  # the shipped studies' names: head_activation, neu-det
SEEDS = list(range(10))

EXPERIMENT = """\
# @package _global_
# Study {name}: what every run of the study shares. Override only what differs from configs/train.yaml;
# the swept keys (the arms and the seeds) are in studies/{name}/sweep.yaml.
defaults:
  - override /model/head: mlp

task_name: {name}
# the arm a run belongs to: scripts/report.py and W&B group the runs by it (here: the swept activation)
arm: ${{model.head.activation}}
tags: [study, {name}]
"""

SWEEP = """\
# Study {name}: every arm (here: a head activation) with every seed, one run each.
#   python scripts/sweep.py studies/{name}/sweep.yaml --jobs 2      (no W&B server; --dry-run lists the runs)
#   wandb sweep studies/{name}/sweep.yaml, then wandb agent <sweep id>
#   python scripts/report.py logs/sweeps/{name} --study studies/{name}/study.yaml
# Parameters are flat dotted Hydra keys. Keep 10 seeds: the paired sign-flip test cannot give p below
# 2/2^n, and Holm's correction multiplies the smallest p by the number of arms compared with the baseline.
name: {name}
project: yololab
program: scripts/train.py
method: grid
metric:
  name: val/mAP50-95
  goal: maximize
command:
  - ${{env}}
  - ${{interpreter}}
  - ${{program}}
  - ${{args_no_hyphens}}
parameters:
  experiment:
    value: study/{name}
  model.head.activation:
    values: [relu, silu]
  seed:
    values: {seeds}
"""


STUDY = """\
# Study {name}: everything scripts/report.py tests (yololab/study/design.py; the code has no claims of its own).
# W&B's sweep schema allows no extra keys, so this lives beside sweep.yaml:
#   python scripts/report.py logs/sweeps/{name} --study studies/{name}/study.yaml
baseline: relu
metric: val/mAP50-95
metrics: [val/mAP50, val/mAP50-95]
alpha: 0.05
claims:
  - name: silu_better
    text: SiLU in the head does better than ReLU.
    arms: [silu]
    reference: relu
    metric: val/mAP50-95
    direction: higher
    # the smallest difference that matters: 0.01 = 1 mAP point. Without a significant effect, a claim is "not
    # supported" only if the confidence interval excludes a difference this large; otherwise "inconclusive".
    margin: 0.01
"""


class ScaffoldError(ValueError):
    pass


def study_files(root: Path, name: str) -> dict[Path, str]:
    """The files of study ``name`` under the repository ``root``, with their contents; checked first."""
    if len(name) > MAX_NAME:
        raise ScaffoldError(f"study name {name!r} has {len(name)} characters: at most {MAX_NAME}")
    if not NAME.match(name):
        raise ScaffoldError(f"study name {name!r}: use lower-case letters, digits, _ and -, starting with a letter")
    if not (root / "configs" / "experiment").is_dir():
        raise ScaffoldError(f"{root / 'configs' / 'experiment'} not found: run from the repository root (or pass "
                            "--root)")
    experiments = root / "configs" / "experiment" / "study"  # where the shipped studies' experiments are
    files = {experiments / f"{name}.yaml": EXPERIMENT.format(name=name),
             root / "studies" / name / "sweep.yaml": SWEEP.format(name=name, seeds=SEEDS),
             root / "studies" / name / "study.yaml": STUDY.format(name=name)}
    for path in files:
        if path.exists():
            raise ScaffoldError(f"{path} exists; not overwriting it (choose another name)")
    return files


def scaffold(root: Path, name: str) -> list[Path]:
    files = study_files(root, name)
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return list(files)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/new_study.py", description=__doc__.split("\n")[0])
    parser.add_argument("name", help="the study's name: lower-case letters, digits, _ and -")
    parser.add_argument("--root", type=Path, default=Path("."), help="the repository root (default: here)")
    args = parser.parse_args(argv)
    try:
        written = scaffold(args.root, args.name)
    except ScaffoldError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print("written:\n  " + "\n  ".join(map(str, written)))
    print(f"next: edit them, then  python scripts/sweep.py studies/{args.name}/sweep.yaml --dry-run")
    return 0
