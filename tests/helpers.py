"""Callbacks that plant faults in real runs (loaded by Hydra overrides such as
``+callbacks.fault._target_=tests.helpers.SignalAtStep``)."""

from __future__ import annotations

import os
import signal
import time

import lightning as L
import torch


class SignalAtStep(L.Callback):
    """Sends ``signum`` to this process after optimiser step ``step``, as a scheduler would."""

    def __init__(self, step: int, signum: str = "SIGTERM") -> None:
        self.step, self.signum = step, getattr(signal, signum)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), self.signum)


class RaiseAtStep(L.Callback):
    """Raises on one rank at one step, as a crashing worker would."""

    def __init__(self, step: int, rank: int) -> None:
        self.step, self.rank = step, rank

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.step and trainer.global_rank == self.rank:
            raise RuntimeError(f"planted failure on rank {self.rank} at step {self.step}")


class NaNGradientAtStep(L.Callback):
    """Makes the gradient of one named parameter NaN during the backward pass of one step."""

    def __init__(self, step: int, parameter: str) -> None:
        self.step, self.parameter = step, parameter
        self.handle = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            param = dict(pl_module.named_parameters())[self.parameter]
            self.handle = param.register_hook(lambda grad: torch.full_like(grad, torch.nan))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.handle is not None:
            self.handle.remove()
            self.handle = None


class KillOnceAtStep(L.Callback):
    """SIGKILLs this process after optimiser step ``step``, once: ``marker`` records that it happened, so the
    resumed run (the same command) goes on. A kill gives no chance to save anything, as a power cut."""

    def __init__(self, step: int, marker: str) -> None:
        self.step, self.marker = step, marker

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step and not os.path.exists(self.marker):
            open(self.marker, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)


class SaveEvaluation(L.Callback):
    """Saves what each validation step returns (the detections and ground truth the mAP metric was given, in
    original pixels) to ``path`` at the end of validation, as {"detections": [...], "targets": [...]}."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.detections, self.targets = [], []

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self.detections += [{k: v.detach().cpu() for k, v in d.items()} for d in outputs["detections"]]
        self.targets += [{k: v.detach().cpu() for k, v in t.items()} for t in outputs["targets"]]

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        torch.save({"detections": self.detections, "targets": self.targets}, self.path)


class WaitForFile(L.Callback):
    """After optimiser step ``step``, writes ``started`` and waits until ``release`` exists: a run that is
    busy in its folder for as long as a test needs."""

    def __init__(self, step: int, started: str, release: str, timeout: float = 600.0) -> None:
        self.step, self.started, self.release, self.timeout = step, started, release, timeout

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step != self.step or os.path.exists(self.started):
            return
        open(self.started, "w").close()
        deadline = time.monotonic() + self.timeout
        while not os.path.exists(self.release) and time.monotonic() < deadline:
            time.sleep(0.05)


class DefaultSignalAction(L.Callback):
    """Restores the default action of ``signum`` in this process: Python ignores SIGXFSZ at start-up, so a
    write past ``RLIMIT_FSIZE`` fails with EFBIG; with the default action it kills the process mid-write."""

    def __init__(self, signum: str) -> None:
        signal.signal(getattr(signal, signum), signal.SIG_DFL)


class SignalInHook(L.Callback):
    """Sends ``signum`` to this process once, from callback hook ``hook`` (``on_train_epoch_start``,
    ``on_validation_batch_start``, ...) in epoch ``epoch``: as a user pressing Ctrl-C at that moment."""

    def __init__(self, hook: str, epoch: int, signum: str = "SIGINT") -> None:
        self.epoch, self.signum, self.sent = epoch, getattr(signal, signum), False
        setattr(self, hook, self._maybe_send)

    def _maybe_send(self, trainer, *args, **kwargs) -> None:
        if trainer.current_epoch == self.epoch and not trainer.sanity_checking and not self.sent:
            self.sent = True
            os.kill(os.getpid(), self.signum)
