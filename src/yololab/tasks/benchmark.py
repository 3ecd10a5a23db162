"""What ``scripts/benchmark.py`` runs: training throughput, loader throughput, validation time and
peak memory of yololab under several speed settings, and of ultralytics YOLOv8n when it is installed.

Every figure comes from real runs in this process (yololab) or a subprocess (ultralytics, which is
never a dependency: ``scripts/bench_ultralytics.py`` runs with any Python that has it). Printed as a
table, written as JSON; never a timed test.
"""

from __future__ import annotations

import json
import logging
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import lightning as L
from omegaconf import DictConfig, OmegaConf

from yololab.tasks.benchmark_loader import images_per_second
from yololab.tasks.train import build

log = logging.getLogger(__name__)

BF16_FLAGS = ("amx_bf16", "avx512_bf16", "amx_tile")


def cpu_bf16_flags(cpuinfo: str) -> dict[str, bool]:
    """Which of the x86 bf16 flags the first ``flags`` line of a ``/proc/cpuinfo`` text lists.

    Why it matters: on CPUs with AMX-BF16, ``trainer.precision=bf16-mixed`` measured 1.7x faster per step
    than fp32 (79 vs 46 images/s, NEU-DET 224 px, batch 16); on a CPU without it (AVX-512 but no
    ``amx_bf16`` or ``avx512_bf16``) 2.4x slower, as bf16 is emulated there. fp32 stays the default, so that
    a study's numbers do not depend on the machine.
    """
    line = next((ln for ln in cpuinfo.splitlines() if ln.split(":")[0].strip() == "flags"), "")
    flags = set(line.partition(":")[2].split())
    return {flag: flag in flags for flag in BF16_FLAGS}


def cpu_bf16_support(path: str = "/proc/cpuinfo") -> dict[str, bool]:
    """:func:`cpu_bf16_flags` of this machine (all false where ``path`` cannot be read)."""
    try:
        return cpu_bf16_flags(Path(path).read_text())
    except OSError:
        return cpu_bf16_flags("")


def describe_cpu_bf16(flags: dict[str, bool]) -> str:
    listed = ", ".join(name for name, present in flags.items() if present) or "none"
    if flags.get("amx_bf16"):
        verdict = "AMX-BF16: bf16-mixed measured 1.7x faster than fp32 on such a CPU"
    elif flags.get("avx512_bf16"):
        verdict = "native bf16 without AMX: bf16-mixed speed unmeasured, benchmark it"
    else:
        verdict = "no native bf16: bf16-mixed is emulated (measured 2.4x slower than fp32)"
    return f"CPU bf16 flags: {listed} ({verdict})"


class StepTimer(L.Callback):
    """Wall time of every training step after ``warmup`` steps (data loading included), and whether it
    was a logging step (where the gradient-flow monitor does its work)."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.images, self.steps = warmup, 0, []
        self._last = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.warmup:
            self._last = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self._last is None:
            return
        now = time.perf_counter()
        logging_step = (trainer.global_step - 1) % trainer.log_every_n_steps == 0
        self.steps.append((now - self._last, logging_step))
        self.images += batch["images"].shape[0]
        self._last = now

    @property
    def images_per_second(self) -> float:
        return self.images / sum(t for t, _ in self.steps) if self.steps else float("nan")

    def median_ms(self, logging_steps: bool) -> float:
        times = [t for t, log in self.steps if log == logging_steps]
        return 1000 * statistics.median(times) if times else float("nan")


def variant_config(cfg: DictConfig, overrides: dict) -> DictConfig:
    """The benchmark's training config with one variant's dotted overrides applied."""
    run_cfg = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "benchmark"])
    OmegaConf.set_struct(run_cfg, False)
    for key, value in (overrides or {}).items():
        OmegaConf.update(run_cfg, key, value, force_add=True)
    return run_cfg


def train_throughput(cfg: DictConfig, warmup: int, steps: int) -> dict:
    """Images/s over ``steps`` optimiser steps after ``warmup``, and the validation time of the full val set."""
    OmegaConf.update(cfg, "trainer.max_steps", warmup + steps, force_add=True)  # less than an epoch: no validation
    OmegaConf.update(cfg, "trainer.num_sanity_val_steps", 0, force_add=True)
    datamodule, model, trainer = build(cfg)
    timer = StepTimer(warmup)
    trainer.callbacks.append(timer)
    trainer.fit(model, datamodule=datamodule)
    start = time.perf_counter()
    trainer.validate(model, datamodule=datamodule, verbose=False)
    return {"train_images_per_s": timer.images_per_second, "val_seconds": time.perf_counter() - start,
            "step_ms": timer.median_ms(False), "logging_step_ms": timer.median_ms(True),
            "train_images": len(datamodule.datasets["train"]), "val_images": len(datamodule.datasets["val"])}


def ultralytics_throughput(python: str, cfg: DictConfig, warmup: int, steps: int) -> dict | None:
    """Runs ``scripts/bench_ultralytics.py`` with ``python`` (an interpreter that has ultralytics)."""
    script = Path(__file__).resolve().parents[3] / "scripts" / "bench_ultralytics.py"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [python, str(script), "--data", str(Path(cfg.data.root).resolve()), "--imgsz", str(cfg.data.img_size),
               "--batch", str(cfg.data.batch_size), "--warmup", str(warmup), "--steps", str(steps), "--out", str(out),
               "--project", tmp]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0 or not out.is_file():
            log.warning("ultralytics benchmark failed:\n%s", proc.stderr[-2000:])
            return None
        return json.loads(out.read_text())


def peak_rss_mib() -> float:
    """Peak resident memory of this process and of its finished children (loader workers), in MiB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def run(cfg: DictConfig) -> dict:
    bench = cfg.benchmark
    rows = {}
    cpu_bf16 = cpu_bf16_support()
    print(describe_cpu_bf16(cpu_bf16), flush=True)
    print(f"data {cfg.data.root}, {cfg.data.img_size} px, batch {cfg.data.batch_size}, "
          f"{bench.steps} timed steps after {bench.warmup}", flush=True)
    loader = images_per_second(variant_config(cfg, {}).data, bench.loader_batches)
    print(f"training loader alone: {loader:.0f} images/s", flush=True)
    for name, overrides in bench.variants.items():
        result = train_throughput(variant_config(cfg, OmegaConf.to_container(overrides)), bench.warmup, bench.steps)
        epoch = result["train_images"] / result["train_images_per_s"]
        result["val_share_of_epoch"] = result["val_seconds"] / (epoch + result["val_seconds"])
        result["peak_rss_mib"] = peak_rss_mib()
        rows[name] = result
        print(f"yololab {name:<24} {result['train_images_per_s']:7.1f} images/s  "
              f"step {result['step_ms']:4.0f} ms, logging step {result['logging_step_ms']:4.0f} ms  "
              f"val {result['val_seconds']:5.1f} s ({100 * result['val_share_of_epoch']:4.1f}% of an epoch)  "
              f"peak RSS {result['peak_rss_mib']:.0f} MiB", flush=True)
    python = bench.ultralytics_python or (sys.executable if _has_ultralytics() else None)
    report = {"cpu_bf16": cpu_bf16, "loader_images_per_s": loader, "yololab": rows, "ultralytics": None,
              "config": bench.variants}
    if python:
        ul = ultralytics_throughput(python, cfg, bench.warmup, bench.steps)
        report["ultralytics"] = ul
        if ul:
            print(f"ultralytics YOLOv8n {ul['version']:<15} {ul['train_images_per_s']:7.1f} images/s", flush=True)
            for name, row in rows.items():
                ratio = row["train_images_per_s"] / ul["train_images_per_s"]
                print(f"ratio yololab {name} / ultralytics: {ratio:.2f}x")
    else:
        print("ultralytics not found: set benchmark.ultralytics_python to an interpreter that has it")
    out = Path(cfg.paths.output_dir) / "benchmark.json"
    out.write_text(json.dumps(report, indent=2, default=str))
    print(f"written to {out}")
    return report


def _has_ultralytics() -> bool:
    try:
        import ultralytics  # noqa: F401
    except ImportError:
        return False
    return True
