"""Every use of Lightning's, torchmetrics' and their loggers' private API, in one place.

None of these has a public equivalent in the versions they were checked against (lightning 2.6.6,
torchmetrics 1.9.0). ``tests/test_private_api.py`` pins the names and signatures relied on and exercises
each adapter once, so an upgrade that changes one fails there, by name, instead of deep inside a run.
"""

from __future__ import annotations

import csv
from typing import TYPE_CHECKING

from lightning.pytorch.loggers.csv_logs import ExperimentWriter

if TYPE_CHECKING:
    import lightning as L
    from lightning.fabric.plugins.environments import ClusterEnvironment
    from lightning.pytorch.loggers import CSVLogger, WandbLogger
    from torch.distributed import ProcessGroup

CHECKED_AGAINST = {"lightning": "2.6.6", "torchmetrics": "1.9.0"}


def cluster_environment(trainer: L.Trainer) -> ClusterEnvironment:
    """The cluster environment whose ``auto_requeue`` decides whether Lightning's signal connector handles
    SIGUSR1 (it reads this same attribute). The public ``trainer.strategy.cluster_environment`` is this
    object on parallel strategies but does not exist on ``SingleDeviceStrategy`` (one GPU under SLURM).
    Checked against lightning 2.6.6."""
    return trainer._accelerator_connector.cluster_environment


def stop_as_on_sigterm(trainer: L.Trainer) -> None:
    """Make ``trainer`` stop where it stops on SIGTERM: after the current batch, with loops that resume exactly.
    This is the flag Lightning's own SIGTERM handler sets; ``trainer.received_sigterm`` is a read-only property
    of it. Checked against lightning 2.6.6."""
    trainer._signal_connector.received_sigterm = True


def hold_sigterm(trainer: L.Trainer) -> bool:
    """Clear the flag ``stop_as_on_sigterm`` (or Lightning's SIGTERM handler) set; whether it was set. Checked
    against lightning 2.6.6."""
    held = trainer._signal_connector.received_sigterm
    trainer._signal_connector.received_sigterm = False
    return held


def restore_train_loader_position(trainer: L.Trainer) -> None:
    """Apply a mid-epoch checkpoint's training-loader position to the loader already built; a no-op unless
    resuming mid-epoch. Lightning applies it only in ``fit_loop.setup_data``, which returns early when
    ``trainer.estimated_stepping_batches`` built the loader before the checkpoint was read, and has no
    public way to apply it later. Checked against lightning 2.6.6."""
    trainer.fit_loop._load_combined_loader_states()


class WholeStateSync:
    """Mixin for a ``torchmetrics.Metric`` that synchronises all of its states itself, in
    ``sync_states(process_group)``.

    ``Metric.sync`` (called by ``compute`` under DDP, between caching and restoring the local states) does
    the synchronisation in the private ``_sync_dist``, overridden here. The public ``dist_sync_fn`` cannot
    replace it: it is applied to each state tensor separately, one collective each. List it before the
    metric class in the bases. Checked against torchmetrics 1.9.0.
    """

    def _sync_dist(self, dist_sync_fn=None, process_group: ProcessGroup | None = None) -> None:
        self.sync_states(process_group or self.process_group)


class KeepingExperimentWriter(ExperimentWriter):
    """Lightning's CSV writer, except that an existing ``metrics.csv`` is kept and its columns continued.

    Lightning's writer warns and deletes the file in the private ``_check_log_dir_exists`` (called from
    ``__init__``); no option turns that off. Checked against lightning 2.6.6.
    """

    def _check_log_dir_exists(self) -> None:
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as file:
                self.metrics_keys = list(csv.DictReader(file).fieldnames or [])


def csv_writer(logger: CSVLogger, writer_class: type[ExperimentWriter]) -> ExperimentWriter:
    """``logger``'s writer, created on first use as ``writer_class``. ``CSVLogger.experiment`` builds
    Lightning's own writer, with no hook to choose the class, and ``save``/``finalize`` read the writer from
    the private ``_experiment``. Checked against lightning 2.6.6."""
    if logger._experiment is None:
        logger._fs.makedirs(logger.root_dir, exist_ok=True)
        logger._experiment = writer_class(log_dir=logger.log_dir)
    return logger._experiment


def drop_unset_wandb_anonymous(logger: WandbLogger) -> None:
    """``WandbLogger`` always passes ``anonymous`` to ``wandb.init`` (None unless asked for), and wandb warns
    that the setting is unused. The arguments wait in the private ``_wandb_init`` until the run starts.
    Checked against lightning 2.6.6."""
    if logger._wandb_init.get("anonymous") is None:
        logger._wandb_init.pop("anonymous", None)
