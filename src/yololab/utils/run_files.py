"""What a training or evaluation run leaves in its run folder, and the line that logs its final metrics."""

from __future__ import annotations

import json
from pathlib import Path

from omegaconf import OmegaConf

SUMMARY_KEYS = ("val/mAP50", "val/mAP50-95", "test/mAP50", "test/mAP50-95")


def trainer_metrics(trainer) -> dict[str, float]:
    """The trainer's latest logged values (``callback_metrics``) as plain floats."""
    return {k: float(v) for k, v in trainer.callback_metrics.items()}


def metrics_line(metrics: dict, keys=SUMMARY_KEYS) -> str:
    """The mAP figures of ``metrics`` among ``keys``, as one log line."""
    return "  ".join(f"{k}={float(metrics[k]):.4f}" for k in keys if k in metrics)


def write_run_files(out: Path, config: dict, metrics: dict[str, float]) -> None:
    """``config.yaml`` (resolved) and ``metrics.json`` (final values) in the run folder, for analysis."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(OmegaConf.to_yaml(config))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
