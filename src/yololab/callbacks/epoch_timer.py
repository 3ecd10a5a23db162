"""Wall time per epoch, split into training and validation, logged as ``time/*``."""

from __future__ import annotations

import time

import lightning as L


class EpochTimer(L.Callback):
    """Logs ``time/train_s`` (the training batches), ``time/val_s`` (the validation run, mAP included) and
    ``time/val_share`` (validation's share of the epoch's wall time) at the end of every training epoch."""

    def __init__(self) -> None:
        self._epoch_start = self._val_start = None
        self._val_seconds = 0.0

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._epoch_start, self._val_seconds = time.perf_counter(), 0.0

    def on_validation_start(self, trainer, pl_module) -> None:
        self._val_start = time.perf_counter()

    def on_validation_end(self, trainer, pl_module) -> None:
        """After the module's ``on_validation_epoch_end``, so the mAP computation is counted."""
        if self._val_start is not None and not trainer.sanity_checking:
            self._val_seconds += time.perf_counter() - self._val_start
        self._val_start = None

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if self._epoch_start is None:
            return
        total = time.perf_counter() - self._epoch_start
        pl_module.log_dict({"time/train_s": total - self._val_seconds, "time/val_s": self._val_seconds,
                            "time/val_share": self._val_seconds / total}, on_step=False, on_epoch=True)
