"""Lightning's CSV logger, except that a resumed run appends to ``metrics.csv`` instead of deleting it, after
forgetting the rows logged after its checkpoint."""

from __future__ import annotations

import csv
import logging
import os
from pathlib import Path

from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.fabric.utilities.rank_zero import rank_zero_only
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

from yololab.utils.private_api import KeepingExperimentWriter, csv_writer

log = logging.getLogger(__name__)


class AppendingCSVLogger(CSVLogger):
    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        return csv_writer(self, KeepingExperimentWriter)

    @rank_zero_only
    def forget_from(self, step: int) -> None:
        """Drop the rows logged at ``step`` or later: the run being resumed logged them after its checkpoint
        (it crashed or was killed later), and the resumed run logs those steps again. Without this the CSV
        would hold two rows for each such step, and a curve read from it would not be the run's."""
        path = Path(self.log_dir) / ExperimentWriter.NAME_METRICS_FILE
        if not path.is_file():
            return
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            fields, rows = reader.fieldnames or [], list(reader)
        kept = [row for row in rows if not row.get("step") or int(float(row["step"])) < step]
        if len(kept) == len(rows):
            return
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            writer.writerows(kept)
        os.replace(tmp, path)
        log.info("%s: dropped %d row(s) logged at step %d or later, after the checkpoint being resumed", path,
                 len(rows) - len(kept), step)
