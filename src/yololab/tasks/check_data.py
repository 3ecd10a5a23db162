"""The data check: what ``scripts/check_data.py`` runs. Prints every problem of every split of the
configured dataset (``data=...``), each with its file and line, and exits with 1 if any is fatal."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from yololab.data.check import report, scan
from yololab.data.records import DataError


def run(cfg: DictConfig) -> int:
    """0 when the dataset can be trained on (warnings allowed), 1 otherwise; the report goes to stdout."""
    datamodule = hydra.utils.instantiate(cfg.data)
    try:
        reader = datamodule.reader
    except DataError as err:  # the dataset cannot even be opened: a missing path, no class list
        print("\n".join(f"error: {p}" for p in err.problems))
        return 1
    result = scan(reader, {split: split for split in reader.splits()}, datamodule.cache.check_dir)
    print(f"{reader.root} ({reader.name} format)")
    print(report(result, reader.class_names))
    return 1 if result.fatal else 0
