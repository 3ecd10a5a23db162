"""The GPU check's steps: throughput, fit (and eval), DDP, packed sweep; each returns its JSON section."""

from __future__ import annotations

import json
import logging
import math
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import hydra
import torch
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

from benchmarks.gpu_check.measures import (
    REPO,
    DeviceMemoryPeak,
    StepTimeout,
    describe,
    epoch_figures,
    gpu_peak,
    log_tail,
    mean_ap,
    reset_gpu_peak,
    run_logged,
)
from benchmarks.gpu_check.plan import Plan
from yololab.tasks import evaluate, train
from yololab.tasks.benchmark import train_throughput, variant_config
from yololab.tasks.benchmark_loader import images_per_second
from yololab.utils.paths import CONFIG_DIR

STUDY_SWEEP = REPO / "studies" / "neu-det" / "sweep.yaml"
log = logging.getLogger(__name__)


@dataclass
class Check:
    """One check's settings and what the steps share: the data overrides and the earlier sections."""

    plan: Plan
    work_dir: Path
    data_overrides: list[str]
    train_images: int | None = None
    sections: dict[str, dict] = field(default_factory=dict)

    def compose(self, overrides: list[str], name: str, config_name: str = "train") -> DictConfig:
        """The config a CLI run with ``overrides`` would get, writing into ``<work dir>/<name>``."""
        output_dir = self.work_dir / name
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            cfg = compose(config_name, overrides=[*overrides, f"paths.log_dir={self.work_dir / 'logs'}"],
                          return_hydra_config=True)
        with open_dict(cfg):
            cfg.hydra.runtime.output_dir = cfg.paths.output_dir = str(output_dir)
            cfg.hydra.job.num = 0
            cfg.trainer.enable_progress_bar = False  # a lease returns the output's tail: keep it readable
        HydraConfig.instance().set_config(cfg)
        return cfg

    def run_args(self, workers: int) -> list[str]:
        """The overrides of a fit, DDP or sweep run."""
        return [*self.data_overrides, *self.plan.run_overrides, f"data.loader.num_workers={workers}", "logger=csv"]


def data_overrides(plan: Plan, work_dir: Path, data_root: Path | None) -> list[str]:
    if data_root is not None:
        return ["data=neu_det", f"data.root={data_root.resolve()}"]
    return ["data=synthetic", f"paths.data_dir={work_dir / 'data'}", *plan.synthetic]


def prepare_data(check: Check) -> dict:
    """Writes the synthetic set (once, before runs in parallel would race to) and counts the train images."""
    cfg = check.compose(check.data_overrides, "data")
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.prepare_data()
    records, _ = datamodule.reader.load(datamodule.split_names["train"])
    check.train_images = len(records)
    return {"root": str(datamodule.root), "synthetic": cfg.data.get("synthetic") is not None,
            "train_images": check.train_images}


def throughput(check: Check, section: dict, deadline: float) -> None:
    """bf16 of every scale first, then fp32 while time is left; a variant that fails is recorded alone."""
    plan = check.plan
    configs = {scale: check.compose([*check.data_overrides, f"model/scale={scale}", f"trainer={plan.trainer}",
                                     "logger=none", f"data.img_size={plan.img_size}",
                                     f"data.batch_size={plan.batch_size}", f"data.loader.num_workers={plan.workers}"],
                                    f"throughput-{scale}") for scale in plan.scales}
    first = configs[plan.scales[0]]
    section.update(img_size=plan.img_size, batch_size=plan.batch_size, timed_steps=plan.steps)
    section["loader_images_per_s"] = images_per_second(variant_config(first, {}).data, plan.loader_batches)
    failed = []
    for precision in plan.precisions:
        for scale, cfg in configs.items():
            key = f"{scale}/{precision}"
            if time.monotonic() > deadline:
                section[key] = {"skipped": "the step's time was up"}
                continue
            reset_gpu_peak()
            try:
                row = train_throughput(variant_config(cfg, {"trainer.precision": precision}), plan.warmup, plan.steps)
                section[key] = {**row, **gpu_peak()}
            except StepTimeout:
                raise
            except Exception as err:  # the traceback goes to the log: a CUDA error's origin is only there
                log.exception("gpu_check: throughput %s failed", key)
                section[key] = {"error": describe(err)}
                failed.append(key)
    if failed:
        section["error"] = f"failed: {', '.join(failed)}"


def fit_and_eval(check: Check, section: dict, deadline: float) -> None:
    """A short fit on the plan's trainer, cut by Lightning's ``max_time`` if slow; then the last checkpoint
    evaluated by ``yololab.tasks.evaluate`` (as ``scripts/eval.py`` would)."""
    plan = check.plan
    cfg = check.compose([*check.run_args(plan.workers), f"trainer={plan.trainer}",
                         f"trainer.max_epochs={plan.fit_epochs}"], "fit")
    minutes, seconds = divmod(max(int(deadline - time.monotonic() - plan.eval_reserve_s), 1), 60)
    OmegaConf.update(cfg, "trainer.max_time", f"00:{minutes // 60:02d}:{minutes % 60:02d}:{seconds:02d}",
                     force_add=True)
    reset_gpu_peak()
    start = time.perf_counter()
    metrics = train.run(cfg)
    section.update(epochs_asked=plan.fit_epochs, precision=cfg.trainer.precision, **mean_ap(metrics),
                   fit_wall_s=time.perf_counter() - start, **gpu_peak(),
                   **epoch_figures(Path(cfg.paths.output_dir), check.train_images))
    checkpoint = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    eval_cfg = check.compose([*check.data_overrides, f"ckpt_path={checkpoint}", f"trainer={plan.trainer}",
                              f"data.loader.num_workers={plan.workers}"], "eval", config_name="eval")
    start = time.perf_counter()
    section["eval"] = {**mean_ap(evaluate.run(eval_cfg)), "wall_s": time.perf_counter() - start}


def ddp(check: Check, section: dict, deadline: float) -> None:
    """A short fit with the plan's DDP trainer on every GPU, as ``scripts/train.py`` runs it."""
    plan = check.plan
    devices = plan.ddp_devices or torch.cuda.device_count()
    if devices < 1:
        raise RuntimeError("no GPU: trainer=ddp needs one (the tiny mode uses trainer=ddp_cpu)")
    run_dir = check.work_dir / "ddp"
    run_dir.mkdir(parents=True, exist_ok=True)
    workers = max(plan.workers // devices, 1) if plan.workers else 0
    command = [sys.executable, "scripts/train.py", f"trainer={plan.ddp_trainer}", f"trainer.devices={devices}",
               f"trainer.max_epochs={plan.ddp_epochs}", *check.run_args(workers), f"hydra.run.dir={run_dir}"]
    section.update(trainer=plan.ddp_trainer, devices=devices)
    start = time.perf_counter()
    with DeviceMemoryPeak() as memory:
        code = run_logged(command, run_dir / "console.log", deadline)
    backend = re.search(r"distributed_backend=(\w+)", log_tail(run_dir / "console.log", 10**6))
    finished = code == 0 and (run_dir / "metrics.json").is_file()
    section.update(backend=backend and backend.group(1), exit_code=code, finished=finished,
                   wall_s=time.perf_counter() - start, peak_gpu_used_mib=memory.peak_mib,
                   **epoch_figures(run_dir, check.train_images))
    if finished:
        section.update(mean_ap(json.loads((run_dir / "metrics.json").read_text())))
    else:
        section["error"] = f"{exit_status(code)}: {log_tail(run_dir / 'console.log')}"


def exit_status(code: int | None) -> str:
    return "stopped at the step's time limit" if code is None else f"exit code {code}"


def packed_jobs(check: Check) -> dict:
    """K: the plan's, else as many runs as the GPU memory holds (the fit's peak plus a CUDA context each,
    in 80% of the memory) and the CPU cores feed (two cores a run: its training process and one loader)."""
    plan, cpus = check.plan, len(os.sched_getaffinity(0))
    if plan.jobs:
        return {"jobs": plan.jobs, "workers_per_run": plan.workers}
    by_cpu = max(cpus // 2, 1)
    peak = check.sections.get("fit", {}).get("peak_gpu_reserved_mib")
    total = torch.cuda.get_device_properties(0).total_memory / 2**20 if torch.cuda.is_available() else None
    by_memory = int(0.8 * total // (peak + 600)) if peak and total else by_cpu
    jobs = max(min(by_cpu, by_memory), 1)
    return {"jobs": jobs, "jobs_by_cpu": by_cpu, "jobs_by_memory": by_memory,
            "workers_per_run": max(cpus // jobs - 1, 1)}


def sweep_file(check: Check, jobs: int) -> Path:
    """The NEU-DET study's sweep (its arms, arm by arm), with enough seeds for ``jobs`` runs."""
    study = yaml.safe_load(STUDY_SWEEP.read_text())
    params = study["parameters"]
    arms = params["model.head.activation"]["values"]
    seeds = list(range(math.ceil(jobs / len(arms))))
    sweep = {**study, "name": "gpu-check", "parameters": {"model.head.activation": {"values": arms},
                                                           "seed": {"values": seeds},
                                                           "experiment": params["experiment"]}}
    path = check.work_dir / "sweep.yaml"
    path.write_text(yaml.safe_dump(sweep, sort_keys=False))
    return path


def packed_sweep(check: Check, section: dict, deadline: float) -> None:
    """K study runs of ``sweep_epochs`` epochs at once; aggregate images/s = train images x epochs x finished
    runs / the sweep's wall time (process starts, validation and all)."""
    plan = check.plan
    section.update(packed_jobs(check), epochs=plan.sweep_epochs, precision=plan.sweep_precision)
    jobs, runs_dir = section["jobs"], check.work_dir / "sweep"
    runs_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "scripts/sweep.py", str(sweep_file(check, jobs)), "--jobs", str(jobs),
               "--count", str(jobs), "--dir", str(runs_dir), "--",
               *check.run_args(section["workers_per_run"]), f"trainer={plan.trainer}",
               f"trainer.precision={plan.sweep_precision}", f"trainer.max_epochs={plan.sweep_epochs}"]
    start = time.perf_counter()
    with DeviceMemoryPeak() as memory:
        code = run_logged(command, check.work_dir / "sweep.log", deadline)
    wall = time.perf_counter() - start
    finished = [json.loads(p.read_text()) for p in sorted(runs_dir.glob("*/metrics.json"))]
    images = (check.train_images or 0) * plan.sweep_epochs * len(finished)
    section.update(exit_code=code, runs_finished=len(finished), wall_s=wall, aggregate_images_per_s=images / wall,
                   runs_per_hour=3600 * len(finished) / wall, peak_gpu_used_mib=memory.peak_mib)
    if finished:
        section["mean_val/mAP50-95"] = sum(m.get("val/mAP50-95", 0) for m in finished) / len(finished)
    if code != 0 or len(finished) < jobs:
        section["error"] = f"{exit_status(code)}, {len(finished)} of {jobs} runs finished: " \
                           f"{log_tail(check.work_dir / 'sweep.log')}"


Step = Callable[[Check, dict, float], None]
STEPS: dict[str, Step] = {"throughput": throughput, "fit": fit_and_eval, "ddp": ddp, "sweep": packed_sweep}
