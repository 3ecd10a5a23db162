"""How fast a study runs on this machine, in runs per hour: ``python scripts/benchmark_study.py <sweep file>``.

One benchmark run trains the sweep's first runs for three epochs under each way of sharing the CPU:
``--jobs 1`` with every core's thread, ``--jobs <cores>`` with one thread each, and the latter without the
RAM cache. The last of the three epochs runs without mosaic (``data.close_mosaic=1``), as a study run's last
``close_mosaic`` epochs do. Each run logs its epochs' train and validation seconds (``time/train_s``,
``time/val_s``); a full study run is the measured one plus its remaining mosaic epochs at the second epoch's
pace (the cache is warm by then) and its remaining plain epochs at the third's, validating every ``c``-th
epoch, ``c`` in :data:`CADENCES`. Startup, the first epoch's cache fill and checkpoint writing are in the
measured wall time. Jobs run at once, so runs per hour = jobs x 3600 / a run's estimated seconds.

``--against <sweep file>`` measures another study the same way in the same benchmark run, first, and prints the
speed-up of the first study over it: a before and an after under the same load, from one command (their runs
in ``before/`` and ``after/`` of ``--dir``).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from yololab.study.runner import run_sweep
from yololab.study.sweep import SweepFileError, load_sweep, plan

CADENCES = (1, 3, 5)


@dataclass
class Variant:
    name: str
    jobs: int
    threads: int
    overrides: tuple[str, ...] = ()


@dataclass
class Measured:
    variant: str
    jobs: int
    threads: int
    wall_s: float  # every job's runs, start to end
    mosaic_epoch_s: float  # train seconds of the second epoch, averaged over the jobs
    plain_epoch_s: float  # of the third, without mosaic
    val_s: float  # of the second epoch
    runs_per_hour: dict[int, float]  # by validation cadence


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def variants(n_cores: int) -> list[Variant]:
    found = [Variant(f"jobs 1 x {n_cores} threads", 1, n_cores)]
    if n_cores > 1:
        found.append(Variant(f"jobs {n_cores} x 1 thread", n_cores, 1))
        found.append(Variant(f"jobs {n_cores} x 1 thread, no RAM cache", n_cores, 1, ("data.cache.ram=false",)))
    return found


def chosen_ways(n_cores: int, jobs: int | None = None) -> list[Variant]:
    """Every way of sharing the CPU, or the one (with the RAM cache) that runs ``jobs`` at once."""
    found = [v for v in variants(n_cores) if jobs in (None, v.jobs)]
    return found[:1] if jobs else found


def epoch_times(metrics_csv: Path) -> list[tuple[float, float]]:
    """(train seconds, validation seconds) of every epoch a run's CSV log records, in order."""
    with open(metrics_csv, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("time/train_s")]
    if not rows:
        raise SweepFileError(f"{metrics_csv}: no time/train_s rows (did the run finish an epoch?)")
    return [(float(r["time/train_s"]), float(r.get("time/val_s") or 0.0)) for r in rows]


@dataclass(frozen=True)
class StudyRun:
    epochs: int
    close_mosaic: int  # the last epochs without mosaic


def study_run(overrides: list[str]) -> StudyRun:
    """The epochs of a study run, from its composed config."""
    from hydra import compose, initialize_config_dir

    from yololab.utils.paths import CONFIG_DIR

    with initialize_config_dir(str(CONFIG_DIR), version_base=None):
        cfg = compose("train", overrides=overrides)
    epochs = cfg.trainer.max_epochs
    return StudyRun(epochs, min(cfg.data.get("close_mosaic", 0), epochs))


def full_run_seconds(wall_s: float, epochs: list[tuple[float, float]], study: StudyRun, cadence: int) -> float:
    """A study run's seconds from the three measured epochs (mosaic, mosaic with a warm cache, plain):
    the remaining epochs at the pace of their kind, validation only every ``cadence``-th epoch."""
    (mosaic_s, val_s), (plain_s, _) = epochs[1], epochs[2]
    mosaic_epochs = study.epochs - study.close_mosaic
    return (wall_s + (mosaic_epochs - 2) * mosaic_s + (study.close_mosaic - 1) * plain_s
            + (study.epochs // cadence - len(epochs)) * val_s)


def measure(cfg: dict, variant: Variant, study: StudyRun, extra: list[str], root: Path) -> Measured:
    short = {"trainer.max_epochs": 3, "data.close_mosaic": 1, "threads": variant.threads, "logger": "csv"}
    parameters = {**cfg["parameters"], **{key: {"value": value} for key, value in short.items()}}
    extra = [o for o in extra if o.split("=", 1)[0].lstrip("+~") not in short]  # they set the study run's
    runs = plan({**cfg, "parameters": parameters}, root / variant.name.replace(" ", "_").replace(",", ""),
                count=variant.jobs, extra=[*extra, *variant.overrides])
    start = time.perf_counter()
    result = run_sweep(runs, variant.jobs, echo=lambda line: print(f"  [{variant.name}] {line}", flush=True))
    wall = time.perf_counter() - start
    if result.failed:
        run, code = result.failed[0]
        raise SweepFileError(f"{variant.name}: run {run.name} failed (exit code {code}); see {run.run_dir}")
    timings = [epoch_times(run.run_dir / "csv" / "metrics.csv") for run in runs]
    if any(len(t) != 3 for t in timings):
        raise SweepFileError(f"{variant.name}: expected three epochs in every run's CSV log, found "
                             f"{[len(t) for t in timings]}")
    by_epoch = zip(*timings, strict=True)
    mean = [tuple(sum(x) / len(x) for x in zip(*epoch, strict=True)) for epoch in by_epoch]  # the jobs' mean pace
    per_hour = {c: variant.jobs * 3600 / full_run_seconds(wall, mean, study, c) for c in CADENCES}
    return Measured(variant.name, variant.jobs, variant.threads, wall, mean[1][0], mean[2][0], mean[1][1], per_hour)


def table(results: list[Measured], study: StudyRun) -> str:
    head = "| way | wall (s) | mosaic epoch (s) | plain epoch (s) | val (s) | " + " | ".join(
        f"runs/h, val every {c}" for c in CADENCES) + " |"
    lines = [head, "|" + "---|" * (5 + len(CADENCES))]
    for r in results:
        rates = " | ".join(f"{r.runs_per_hour[c]:.2f}" for c in CADENCES)
        lines.append(f"| {r.variant} | {r.wall_s:.0f} | {r.mosaic_epoch_s:.1f} | {r.plain_epoch_s:.1f} | "
                     f"{r.val_s:.1f} | {rates} |")
    best = max(results, key=lambda r: r.runs_per_hour[1])
    lines.append(f"\nfastest (validating every epoch): {best.variant}, {best.runs_per_hour[1]:.2f} runs/h "
                 f"({study.epochs}-epoch runs, the last {study.close_mosaic} without mosaic)")
    return "\n".join(lines)


def speed_up(after: list[Measured], before: list[Measured]) -> str:
    """The ratio of runs per hour, way by way, of the study over the ``--against`` one."""
    lines = [f"{a.variant}: {a.runs_per_hour[1] / b.runs_per_hour[1]:.2f}x the runs per hour "
             f"({a.runs_per_hour[1]:.2f} against {b.runs_per_hour[1]:.2f}, validating every epoch)"
             for a, b in zip(after, before, strict=True)]
    return "speed-up over --against:\n" + "\n".join(lines)


def benchmark(sweep_file: Path, overrides: list[str], jobs: int | None, root: Path) -> tuple[StudyRun, list[Measured]]:
    """Every chosen way of sharing the CPU, measured on one sweep file's first runs."""
    cfg = load_sweep(sweep_file)
    first = plan(cfg, Path("."), count=1, extra=overrides)[0]
    study = study_run(first.overrides)
    if study.epochs < 3 or study.epochs - study.close_mosaic < 2 or study.close_mosaic < 1:
        raise SweepFileError(f"{sweep_file}: the estimate needs study runs of 3 or more epochs, 2 with "
                             f"mosaic and 1 without; these have {study}")
    ways = chosen_ways(cores(), jobs)
    if not ways:
        raise SweepFileError(f"--jobs {jobs}: the ways measured here run 1 or {cores()} jobs")
    return study, [measure(cfg, v, study, overrides, root) for v in ways]


def report(sweep_file: Path, study: StudyRun, results: list[Measured]) -> dict:
    print(f"\n{cores()} cores; 3-epoch runs of {sweep_file}, estimated for its {study.epochs}-epoch runs\n")
    print(table(results, study))
    return {"sweep_file": str(sweep_file), "study_run": asdict(study), "results": [asdict(r) for r in results]}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/benchmark_study.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("sweep_file", type=Path)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides added to every run (put them after --)")
    parser.add_argument("--out", type=Path, help="write the figures to this JSON file")
    parser.add_argument("--dir", type=Path, help="folder of the benchmark runs (default: a temporary one)")
    parser.add_argument("--jobs", type=int, help="measure one way only: this many jobs at once, with the RAM cache "
                        "(default: every way)")
    parser.add_argument("--against", type=Path, help="another sweep file (the before), measured first in the same "
                        "run with the same overrides; prints the speed-up over it")
    return parser.parse_intermixed_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        with tempfile.TemporaryDirectory(prefix="benchmark-study-") as tmp:
            root = args.dir or Path(tmp)
            files = {"": args.sweep_file} if args.against is None else {"before": args.against,
                                                                          "after": args.sweep_file}
            measured = [(f, *benchmark(f, args.overrides, args.jobs, root / sub)) for sub, f in files.items()]
    except SweepFileError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    figures = {"cores": cores(), "overrides": args.overrides, **report(*measured[-1])}
    if args.against is not None:
        figures["against"] = report(*measured[0])
        print("\n" + speed_up(measured[1][2], measured[0][2]))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2))
    return 0
