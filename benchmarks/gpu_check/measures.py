"""What the GPU check's steps measure with: time boxes, GPU memory, a run's epoch times, logged subprocesses."""

from __future__ import annotations

import contextlib
import csv
import gc
import os
import platform
import signal
import subprocess
import threading
import time
from pathlib import Path

import torch

from yololab.tasks.benchmark import cpu_bf16_support

REPO = Path(__file__).resolve().parents[2]


class StepTimeout(Exception):
    pass


def describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"[-2000:]


@contextlib.contextmanager
def time_box(seconds: float):
    """Raise :class:`StepTimeout` in this (main) thread after ``seconds``: a hung step cannot stall the rest."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum, frame):
        raise StepTimeout(f"stopped after {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def environment() -> dict:
    import lightning

    cuda = torch.cuda.is_available()
    gpus = [torch.cuda.get_device_properties(i) for i in range(torch.cuda.device_count())] if cuda else []
    return {
        "python": platform.python_version(), "torch": torch.__version__, "lightning": lightning.__version__,
        "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version() if cuda else None,
        "gpus": [p.name for p in gpus], "gpu_memory_mib": [p.total_memory // 2**20 for p in gpus],
        "cpu_count": len(os.sched_getaffinity(0)), "cpu_bf16": cpu_bf16_support(),
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
    }


def reset_gpu_peak() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def gpu_peak() -> dict:
    """This process's peak GPU memory since :func:`reset_gpu_peak` (nothing without a GPU)."""
    if not torch.cuda.is_available():
        return {}
    return {"peak_gpu_allocated_mib": torch.cuda.max_memory_allocated() / 2**20,
            "peak_gpu_reserved_mib": torch.cuda.max_memory_reserved() / 2**20}


class DeviceMemoryPeak:
    """The peak GPU memory in use by every process (runs in subprocesses), sampled in a thread."""

    def __init__(self, interval: float = 0.5) -> None:
        self.interval, self.peak_mib = interval, None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            free, total = torch.cuda.mem_get_info()
            self.peak_mib = max(self.peak_mib or 0, (total - free) / 2**20)

    def __enter__(self):
        if torch.cuda.is_available():
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


def epoch_rows(run_dir: Path) -> list[dict]:
    """The per-epoch rows (those with ``time/train_s``) of a run's ``csv/metrics.csv``."""
    path = run_dir / "csv" / "metrics.csv"
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return [row for row in csv.DictReader(f) if row.get("time/train_s")]


def epoch_figures(run_dir: Path, train_images: int | None) -> dict:
    """Epochs completed and the last epoch's training images/s (the first includes the warm-up)."""
    rows = epoch_rows(run_dir)
    if not rows:
        return {"epochs": 0}
    seconds = float(rows[-1]["time/train_s"])
    return {"epochs": len(rows), "last_epoch_train_s": seconds,
            "train_images_per_s": train_images / seconds if train_images else None}


def mean_ap(metrics: dict) -> dict:
    return {key: metrics[key] for key in ("val/mAP50", "val/mAP50-95") if key in metrics}


def run_logged(command: list[str], log_path: Path, deadline: float) -> int | None:
    """Run ``command`` from the repository root, its output in ``log_path``; its exit code, or None when it
    was killed (with its children) at ``deadline``."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "WANDB_MODE": "offline"}
    with open(log_path, "w") as out:
        proc = subprocess.Popen(command, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            return proc.wait(timeout=max(deadline - time.monotonic(), 1))
        except subprocess.TimeoutExpired:
            return None
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def log_tail(path: Path, chars: int = 1500) -> str:
    return path.read_text(errors="replace")[-chars:] if path.is_file() else ""
