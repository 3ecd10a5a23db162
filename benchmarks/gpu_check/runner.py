"""The GPU check: every step within its budget, the JSON after each; ``main`` is the command line."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
import traceback
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from benchmarks.gpu_check.measures import REPO, describe, environment, reset_gpu_peak, time_box
from benchmarks.gpu_check.plan import GPU, TINY, Plan
from benchmarks.gpu_check.steps import STEPS, Check, Step, data_overrides, prepare_data

log = logging.getLogger(__name__)


def run_step(name: str, step: Step, check: Check) -> dict:
    """One step within its budget: its section of the JSON, with what it measured before an error, the
    error itself (``ok`` false), and its seconds."""
    budget = check.plan.budgets[name]
    log.info("gpu_check: %s (at most %.0f s)", name, budget)
    section, start = {}, time.perf_counter()
    try:
        with time_box(budget + check.plan.grace_s):
            step(check, section, time.monotonic() + budget)
    except Exception as err:
        log.error("gpu_check: %s failed:\n%s", name, traceback.format_exc())
        section["error"] = describe(err)
    section.update(ok="error" not in section, seconds=time.perf_counter() - start, budget_s=budget)
    reset_gpu_peak()
    return section


def write_json(report: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(report, indent=2, default=str))
    partial.replace(path)


def run(plan: Plan, work_dir: Path, out: Path, data_root: Path | None = None,
        steps: dict[str, Step] | None = None) -> dict:
    """Every step of ``steps`` (name: function; default :data:`STEPS`) in order; the JSON at ``out`` after each."""
    start = time.perf_counter()
    work_dir = work_dir.resolve()
    check = Check(plan, work_dir, data_overrides(plan, work_dir, data_root))
    report = {"mode": plan.name, "started": datetime.now().isoformat(timespec="seconds"), "work_dir": str(work_dir),
              "environment": environment()}
    try:
        report["data"] = prepare_data(check)
    except Exception as err:
        report["data"] = {"error": describe(err)}
    write_json(report, out)
    for name, step in (steps or STEPS).items():
        report[name] = check.sections[name] = run_step(name, step, check)
        write_json(report, out)
    report["wall_s"] = time.perf_counter() - start
    write_json(report, out)
    return report


def default_out(work_dir: Path) -> Path:
    """``$OUT/gpu_check.json`` on a lease (what the lease sends back), else in the work folder."""
    return Path(os.environ["OUT"]) / "gpu_check.json" if os.environ.get("OUT") else work_dir / "gpu_check.json"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/gpu_check.sh",
                                     description="One GPU lease's measurements as one JSON (benchmarks/gpu_check).")
    parser.add_argument("--data-root", type=Path, help="a dataset folder (NEU-DET); default: the synthetic set")
    parser.add_argument("--out", type=Path, help="the JSON (default $OUT/gpu_check.json, else in --work-dir)")
    parser.add_argument("--work-dir", type=Path, help="runs and data (default logs/gpu_check/<time>)")
    parser.add_argument("--tiny", action="store_true", help="every step on CPU at 64 px (the test suite's check)")
    parser.add_argument("--jobs", type=int, help="runs packed on the GPU (default: as many as fit)")
    parser.add_argument("--steps", default=",".join(STEPS), help=f"comma-separated subset of {','.join(STEPS)}")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # the shell's overall time limit (SIGTERM) ends the check, killing the runs of a step in progress
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    plan = TINY if args.tiny else GPU
    if args.jobs:
        plan = replace(plan, jobs=args.jobs)
    steps = [s for s in args.steps.split(",") if s]
    unknown = set(steps) - set(STEPS)
    if unknown:
        raise SystemExit(f"unknown step(s) {sorted(unknown)}; known: {list(STEPS)}")
    work_dir = args.work_dir or REPO / "logs" / "gpu_check" / datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    out = args.out or default_out(work_dir)
    report = run(plan, work_dir, out, args.data_root, {name: STEPS[name] for name in steps})
    print(json.dumps(report, indent=2, default=str))
    print(f"written to {out}")
    return 0 if all(report[s]["ok"] for s in steps) else 1
