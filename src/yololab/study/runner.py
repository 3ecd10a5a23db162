"""Run a W&B sweep file without a W&B server: ``python scripts/sweep.py sweep.yaml [--jobs K] [--dry-run]``.

Every run executes the command ``wandb agent`` would run (:mod:`yololab.study.sweep`), plus the Hydra
overrides given after ``--``, from the current folder. Its run folder, ``<sweep dir>/<name>``, reaches
Hydra through the ``YOLOLAB_RUN_DIR`` environment variable (``configs/hydra/default.yaml``), so the command
itself stays the agent's. ``python`` is the interpreter running this script (its folder leads ``PATH``).
A run is finished when its folder holds ``metrics.json``, which ``yololab.tasks.train.run`` writes last. A
restart skips finished runs, resumes an unfinished run from its ``checkpoints/last.ckpt`` (same folder, same
W&B id, which the checkpoint carries), and starts over a run whose folder holds no checkpoint in a fresh
folder: the old one's files are moved aside to ``<name>.attempt-<n>``, never deleted.

One runner per sweep folder, and one writer per run folder (:mod:`yololab.utils.run_folder`): the runner
holds the sweep folder's lock while it runs, takes each run folder's lock before it touches the folder,
and hands that lock to the run's process.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from yololab.study.sweep import PlannedRun, SweepFileError, load_sweep, plan, with_constants
from yololab.utils import run_folder

RUN_DIR_ENV = "YOLOLAB_RUN_DIR"
DONE_FILE = "metrics.json"
LOG_FILE = "console.log"
RESUME_FILE = Path("checkpoints") / "last.ckpt"


@dataclass
class SweepResult:
    finished: list[PlannedRun] = field(default_factory=list)  # ran now, exit 0, metrics.json written
    skipped: list[PlannedRun] = field(default_factory=list)  # finished before
    failed: list[tuple[PlannedRun, int | None]] = field(default_factory=list)  # (run, exit code; None: not started)


def is_finished(run: PlannedRun) -> bool:
    return (run.run_dir / DONE_FILE).is_file()


EXECUTION_KEYS = ("ckpt_path", "threads")  # how a run was computed (resumed, CPU threads), not which run it is


def identity(overrides: list[str]) -> list[str]:
    return [o for o in overrides if o.split("=", 1)[0].lstrip("+~") not in EXECUTION_KEYS]


def check_same_run(run: PlannedRun) -> None:
    """A finished folder must hold this run, not one of another sweep that used the same folder. A run
    finished with another CPU thread count (``threads``) is this run: its folder records the count."""
    path = run.run_dir / ".hydra" / "overrides.yaml"
    recorded = yaml.safe_load(path.read_text()) if path.is_file() else None
    if recorded is not None and identity(recorded) != identity(run.overrides):
        raise SweepFileError(f"{run.run_dir} holds a finished run with the overrides {recorded}, not this sweep's "
                             f"{run.overrides}; give this sweep its own folder with --dir")


def shell_line(run: PlannedRun) -> str:
    return f"{RUN_DIR_ENV}={shlex.quote(str(run.run_dir))} {shlex.join(run.command)}"


def run_env(run: PlannedRun) -> dict[str, str]:
    env = dict(os.environ)
    env[RUN_DIR_ENV] = str(run.run_dir.resolve())
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def quoted(value: str) -> str:
    """A Hydra override value quoted as a literal string: run folders are named ``key=value,key=value``, and
    an unquoted ``=`` or ``,`` breaks the override grammar."""
    escaped = re.sub(r"(\\*)('|$)", lambda m: m.group(1) * 2 + ("\\'" if m.group(2) else ""), value)
    return f"'{escaped}'"


def resume_command(run: PlannedRun) -> list[str]:
    """The run's command, resuming from its last checkpoint when it has one."""
    checkpoint = run.run_dir / RESUME_FILE
    if checkpoint.is_file():
        return [*run.command, f"ckpt_path={quoted(str(checkpoint.resolve()))}"]
    return run.command


def move_aside(run: PlannedRun) -> Path | None:
    """A folder without a checkpoint to resume (a run that failed or was killed before its first one, or that
    diverged: ``last-good.ckpt``) is moved to ``<name>.attempt-<n>``, its files kept; where it went, or None."""
    if not run.run_dir.exists() or (run.run_dir / RESUME_FILE).is_file():
        return None
    if not any(p.name != run_folder.LOCK_FILE for p in run.run_dir.iterdir()):
        return None  # nothing but a lock file
    n = 1
    while (aside := run.run_dir.with_name(f"{run.name}.attempt-{n}")).exists():
        n += 1
    run.run_dir.rename(aside)
    return aside


def launch(run: PlannedRun, cwd: Path, echo: Callable[[str], None] = print) -> int | None:
    """Train one run, or resume it, its console output appended to ``<run dir>/console.log``; the exit code,
    or None if another process writes into its folder. The folder's lock is taken before the folder is
    touched (moved aside, written), and handed to the run's process."""
    try:
        run_folder.acquire(run.run_dir)
    except run_folder.RunFolderBusy as err:
        echo(f"{run.name}: not started: {err}")
        return None
    try:
        aside = move_aside(run)  # the lock moves with the folder; this runner still holds it
        if aside is not None:
            run_folder.release(run.run_dir)
            run_folder.acquire(run.run_dir)
            echo(f"{run.name}: no checkpoint to resume; the earlier attempt's files were moved to {aside}")
        env, fds = run_folder.handed_to_child(run.run_dir)
        command = resume_command(run)
        with open(run.run_dir / LOG_FILE, "a") as log:
            log.write(f"$ {shlex.join(command)}\n")
            log.flush()
            return subprocess.run(command, cwd=cwd, env={**run_env(run), **env}, pass_fds=fds,
                                  stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                  check=False).returncode
    finally:
        run_folder.release(run.run_dir)


def failure(run: PlannedRun, code: int | None) -> str:
    """Why a run did not finish, in words: its exit code or signal, or the missing ``metrics.json``."""
    if code is None:
        return "not started: its folder is in use by another process"
    if code == 0:
        return (f"exit code 0, but it left no {DONE_FILE} in {run.run_dir} (did its command write into "
                "another folder?)")
    if code < 0:
        return f"killed by {signal.Signals(-code).name}" if -code in signal.valid_signals() else f"signal {-code}"
    return f"exit code {code}"


def run_sweep(runs: list[PlannedRun], jobs: int = 1, dry_run: bool = False, cwd: Path | None = None,
              echo: Callable[[str], None] = print) -> SweepResult:
    """Run the unfinished ``runs``, ``jobs`` at a time; ``dry_run`` prints every command instead."""
    result = SweepResult()
    todo = []
    for run in runs:
        if is_finished(run):
            check_same_run(run)
            result.skipped.append(run)
        else:
            todo.append(run)
    if dry_run:
        for run in runs:
            echo(("# finished: " if run in result.skipped else "") + shell_line(run))
        return result
    with sweep_lock(runs):
        echo(f"{len(todo)} run(s) to do, {len(result.skipped)} finished before, {jobs} at a time")
        if jobs > 1 and todo and not any(o.startswith("threads=") for o in todo[0].overrides):
            echo(f"note: {jobs} runs at a time each use torch's default CPU threads (one per core); on a CPU add "
                 f"-- threads=<cores / {jobs}> (on 2 cores --jobs 2 -- threads=1 measured 1.37x the runs per hour "
                 "of --jobs 1: scripts/benchmark_study.py)")
        with ThreadPoolExecutor(max_workers=max(jobs, 1)) as pool:
            futures = {pool.submit(launch, run, cwd or Path.cwd(), echo): run for run in todo}
            for future in as_completed(futures):
                run, code = futures[future], future.result()
                if code == 0 and is_finished(run):
                    result.finished.append(run)
                    echo(f"finished {run.name}")
                else:
                    result.failed.append((run, code))
                    echo(f"FAILED {run.name} ({failure(run, code)}); see {run.run_dir / LOG_FILE}")
    return result


@contextlib.contextmanager
def sweep_lock(runs: list[PlannedRun]):
    """The lock of the runs' sweep folder, held while this runner runs: a second runner stops, naming it."""
    taken = []
    try:
        for folder in sorted({run.run_dir.parent for run in runs}):
            if run_folder.acquire(folder):
                taken.append(folder)
        yield
    except run_folder.RunFolderBusy as err:
        raise SweepFileError(f"another sweep runner works in this folder: {err}") from None
    finally:
        for folder in taken:
            run_folder.release(folder)


def default_dir(cfg: dict, sweep_file: Path) -> Path:
    name = re.sub(r"[^A-Za-z0-9._-]", "-", str(cfg.get("name") or sweep_file.stem))
    return Path("logs") / "sweeps" / name


def export(cfg: dict, overrides: list[str], path: Path) -> int:
    if path.exists():
        raise SweepFileError(f"{path} exists; not overwriting it")
    if overrides and "name" in cfg:
        cfg = {**cfg, "name": f"{cfg['name']}-{path.stem}"}
    path.write_text(yaml.safe_dump(with_constants(cfg, overrides), sort_keys=False))
    load_sweep(path)
    print(f"written {path}; start it with: wandb sweep {path}")
    return 0


def outer_loop(runs: list[PlannedRun], cfg: dict, key: str) -> list[PlannedRun]:
    """The runs with ``key`` as the outer loop (all runs of its first value, then of its second, ...), the sweep's
    order kept within each value: W&B's grid orders its points itself, and ``--outer seed`` makes a stop leave
    complete sets of arms."""
    values = (cfg["parameters"].get(key) or {}).get("values")
    if not values:
        raise SweepFileError(f"--outer {key}: not a parameter with values in the sweep file")
    return sorted(runs, key=lambda run: values.index(run.params[key]))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/sweep.py",
        description="Run a W&B sweep file (grid or random) locally, each run as `wandb agent` would start it.",
        epilog="example: python scripts/sweep.py sweep.yaml --jobs 4 -- trainer=gpu data=neu_det",
    )
    parser.add_argument("sweep_file", type=Path)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides added to every run (put them after --)")
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time (default 1)")
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    parser.add_argument("--count", type=int, help="number of runs: required by random, the first N of a grid")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random method's draws (default 0)")
    parser.add_argument("--dir", type=Path, help="folder of the runs (default logs/sweeps/<sweep name>)")
    parser.add_argument("--outer", metavar="KEY", help="run the grid with this parameter as the outer loop, e.g. "
                        "--outer seed: every arm of a seed before the next seed")
    parser.add_argument("--export", type=Path, metavar="FILE",
                        help="run nothing: write the sweep with the overrides as constant parameters, for wandb sweep")
    return parser.parse_intermixed_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        cfg = load_sweep(args.sweep_file)
        if args.export:
            return export(cfg, args.overrides, args.export)
        if not Path(cfg["program"]).is_file():
            raise SweepFileError(f"{args.sweep_file}: program {cfg['program']} not found from {Path.cwd()}; run "
                                 "from the folder the program path is relative to (the repository root)")
        runs = plan(cfg, args.dir or default_dir(cfg, args.sweep_file), args.count, args.seed, args.overrides)
        if args.outer:
            runs = outer_loop(runs, cfg, args.outer)
        result = run_sweep(runs, args.jobs, args.dry_run)
    except SweepFileError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not args.dry_run:
        print(f"{len(result.finished)} finished, {len(result.skipped)} skipped (finished before), "
              f"{len(result.failed)} failed")
    return 1 if result.failed else 0
