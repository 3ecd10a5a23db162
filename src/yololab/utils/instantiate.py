"""Build lists of callbacks and loggers from their Hydra config groups (dicts of ``_target_`` entries)."""

from __future__ import annotations

from typing import Any

import hydra
from omegaconf import DictConfig


def instantiate_group(cfg: DictConfig | None) -> list[Any]:
    """Every entry of ``cfg`` that names a ``_target_``, in order; ``null`` entries are skipped."""
    if not cfg:
        return []
    return [hydra.utils.instantiate(entry) for entry in cfg.values() if entry and "_target_" in entry]
