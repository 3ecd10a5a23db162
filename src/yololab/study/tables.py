"""A study's results as two small CSV files, read from its run folders: ``runs.csv`` (every run's final metrics,
arm, seed, wall time, CPU threads, CPU model, instruction sets, library versions, command and, for a head-probe
run, its trunk's sha256) and ``curves.csv`` (per run and epoch: the mAPs, the losses, and the mean gradient norm
and dead-unit fraction of every monitored head layer). Small enough to commit beside a report."""

from __future__ import annotations

import bisect
import csv
import math
from collections import defaultdict
from pathlib import Path

from yololab.study import measures
from yololab.study.runs import GRADFLOW, Run, _number, read_csv, read_environment

FINAL_KEYS = ("val/mAP50", "val/mAP50-95", "val/mAP50_300det", "val/mAP50-95_300det", "val/precision",
              "val/recall", "val/loss")
EPOCH_KEYS = ("val/mAP50", "val/mAP50-95", "train/loss_epoch", "train/box_loss_epoch", "train/cls_loss_epoch",
              "train/dfl_loss_epoch", "val/loss", "val/box_loss", "val/cls_loss", "val/dfl_loss", "time/train_s",
              "time/val_s")
LAYER_KINDS = ("grad_norm", "dead_fraction")


def epochs_by_step(rows: list[dict]) -> list[tuple[float, float]]:
    """(step, epoch) of every row that has both, sorted: the gradient-flow monitor's rows carry a step only."""
    pairs = {(_number(r.get("step")), _number(r.get("epoch"))) for r in rows}
    return sorted((s, e) for s, e in pairs if s is not None and e is not None)


def epoch_of(row: dict, known: list[tuple[float, float]]) -> float | None:
    """The row's epoch, or that of the last row logged at or before its step."""
    epoch, step = _number(row.get("epoch")), _number(row.get("step"))
    if epoch is not None or step is None:
        return epoch
    if not known:
        return None
    at = bisect.bisect_right(known, (step, math.inf))  # rows logged at or before ``step``
    return known[at - 1][1] if at else known[0][1]


def epoch_rows(rows: list[dict]) -> dict[int, dict[str, float]]:
    """Epoch (from 0) -> the epoch's logged values and the mean of each monitored layer's gradient norm and
    dead fraction over the epoch's logged steps."""
    values: dict[int, dict[str, float]] = defaultdict(dict)
    sums: dict[tuple[int, str], list[float]] = defaultdict(list)
    known = epochs_by_step(rows)
    for row in rows:
        epoch = epoch_of(row, known)
        if epoch is None:
            continue
        for key, raw in row.items():
            value = _number(raw)
            if value is None:
                continue
            if key in EPOCH_KEYS:
                values[int(epoch)][key] = value
            elif (match := GRADFLOW.match(key)) and match["kind"] in LAYER_KINDS:
                sums[(int(epoch), key)].append(value)
    for (epoch, key), logged in sums.items():
        values[epoch][key] = sum(logged) / len(logged)  # as committed in curves.csv (fmean differs by 1 ulp)
    return dict(sorted(values.items()))


def command_of(folder: Path) -> str:
    """The run's command as the sweep runner recorded it (the first ``$ `` line of console.log: a resumed run
    adds ``ckpt_path=`` to the later ones, and ends where the first would have), else its Hydra overrides."""
    log = folder / "console.log"
    if log.is_file():
        lines = [line[2:] for line in log.read_text(errors="replace").splitlines() if line.startswith("$ ")]
        if lines:
            return lines[0]
    overrides = folder / ".hydra" / "overrides.yaml"
    return overrides.read_text().strip() if overrides.is_file() else ""


def trunk_column(run: Run) -> dict[str, str]:
    """``trunk_sha256``: the trunk a head-probe run was trained on (``model.init_from_sha256``); none otherwise."""
    sha = (run.config.get("model") or {}).get("init_from_sha256")
    return {"trunk_sha256": sha} if sha else {}


# runs.csv column: environment.json key
ENVIRONMENT_COLUMNS = {"cpu_model": "cpu_model", "cpu_capability": "cpu_capability", "isa": "isa",
                       "torch": "torch", "onednn": "onednn", "onednn_enabled": "mkldnn_enabled", "mkl": "mkl",
                       "torch_threads": "threads"}


def environment_columns(folder: Path) -> dict:
    """The run's CPU model, instruction sets and library versions (``environment.json``, one entry per start;
    distinct values of a resumed run joined by ' + '); nothing for a run that predates the record."""
    entries = read_environment(folder / "environment.json")
    if not entries:
        return {}
    return {column: " + ".join(dict.fromkeys(str(e.get(key)) for e in entries))
            for column, key in ENVIRONMENT_COLUMNS.items()}


def write_tables(runs: list[Run], root: Path, out: Path) -> tuple[Path, Path]:
    """``runs.csv`` and ``curves.csv`` in ``out`` for the runs read from ``root``."""
    out.mkdir(parents=True, exist_ok=True)
    run_rows, curve_rows = [], []
    for run in sorted(runs, key=lambda r: (r.arm, r.seed)):
        folder = root / run.name
        epochs = epoch_rows(read_csv(folder / "csv" / "metrics.csv"))
        run_rows.append({"run": run.name, "arm": run.arm, "seed": run.seed, "activation": run.activation,
                         **{k: run.final.get(k) for k in FINAL_KEYS},
                         **{k: v for k, v in sorted(run.final.items()) if "@" in k},  # at a fixed confidence
                         "epochs": len(epochs),
                         "wall_s": round(measures.epoch_seconds(run), 1), "threads": measures.threads(run),
                         **environment_columns(folder), "command": command_of(folder), **trunk_column(run)})
        curve_rows += [{"run": run.name, "arm": run.arm, "seed": run.seed, "epoch": epoch, **values}
                       for epoch, values in epochs.items()]
    runs_csv, curves_csv = out / "runs.csv", out / "curves.csv"
    _write(runs_csv, run_rows)
    _write(curves_csv, curve_rows)
    return runs_csv, curves_csv


def _write(path: Path, rows: list[dict]) -> None:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        writer.writerows(rows)
