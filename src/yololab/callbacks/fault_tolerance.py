"""Surviving faults: a checkpoint on preemption, the random state for exact resumes, a divergence guard."""

from __future__ import annotations

import logging
import random
import signal
import threading
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.utilities.exceptions import SIGTERMException
from torch import nn

from yololab.utils.private_api import (
    cluster_environment,
    hold_sigterm,
    restore_train_loader_position,
    stop_as_on_sigterm,
)

log = logging.getLogger(__name__)


def checkpoint_dir(trainer: L.Trainer) -> Path:
    callback = trainer.checkpoint_callback
    return Path(callback.dirpath) if callback and callback.dirpath else Path(trainer.default_root_dir) / "checkpoints"


class PreemptionCheckpoint(L.Callback):
    """On SIGTERM (handled by Lightning, which stops after the current batch on every rank), SIGINT (Ctrl-C,
    handled the same way) or SIGUSR1 (a SLURM warning signal, ``#SBATCH --signal=USR1@90``), writes (after the
    current batch, or after validation when it comes during one)
    ``checkpoints/last.ckpt`` and stops. ``ckpt_path=last`` in the same run folder resumes from it, mid-epoch
    included, as if the run had not stopped. A second Ctrl-C stops at once and writes nothing: a checkpoint
    taken inside a batch or an epoch's end would not resume exactly (the last good one stays).
    Under SLURM with Lightning's auto-requeue, SIGUSR1 is left to Lightning (checkpoint + requeue).
    """

    def __init__(self, filename: str = "last.ckpt") -> None:
        self.filename = filename
        self.requested = False
        self.held = False  # a stop asked for during validation, made when it ends
        self.trainer: L.Trainer | None = None
        self.previous_sigint = None

    def setup(self, trainer, pl_module, stage: str) -> None:
        if stage != "fit" or threading.current_thread() is not threading.main_thread():
            return
        if not getattr(cluster_environment(trainer), "auto_requeue", False):
            signal.signal(signal.SIGUSR1, self._request)
        self.trainer, self.previous_sigint = trainer, signal.signal(signal.SIGINT, self._interrupt)

    def teardown(self, trainer, pl_module, stage: str) -> None:
        if self.previous_sigint is not None:
            signal.signal(signal.SIGINT, self.previous_sigint)
            self.previous_sigint = None

    def _request(self, signum, frame) -> None:
        log.info("received signal %s: checkpointing after this batch", signum)
        self.requested = True

    def _interrupt(self, signum, frame) -> None:
        """Ctrl-C: stop where SIGTERM would (Lightning's flag), so the checkpoint resumes exactly."""
        log.warning("Ctrl-C: stopping after this batch with a checkpoint to resume from (Ctrl-C again: stop at "
                    "once, without one)")
        stop_as_on_sigterm(self.trainer)
        signal.signal(signal.SIGINT, self.previous_sigint or signal.default_int_handler)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.requested:
            raise SIGTERMException()

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        """A stop asked for during validation waits for its end: a checkpoint taken inside validation resumes
        with that validation's partial sums counted again (val/loss off, Lightning 2.6); one taken after it
        resumes exactly."""
        if trainer.state.fn == "fit" and not trainer.sanity_checking and hold_sigterm(trainer):
            if not self.held:
                log.info("stop asked for during validation: stopping when it ends")
            self.held = True

    def on_validation_end(self, trainer, pl_module) -> None:
        if self.held:
            self.held = False
            stop_as_on_sigterm(trainer)

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        if trainer.state.fn != "fit":
            return
        if isinstance(exception, SIGTERMException):
            path = checkpoint_dir(trainer) / self.filename
            trainer.save_checkpoint(path)
            log.info("preempted: checkpoint written to %s; resume with ckpt_path=%s", path, path)
        elif isinstance(exception, KeyboardInterrupt):
            log.warning("stopped at once: no checkpoint written (one taken now would not resume exactly); "
                        "ckpt_path=last resumes the last one in %s", checkpoint_dir(trainer))


class ResumeState(L.Callback):
    """What an exact resume needs beyond Lightning's own state.

    - The torch, numpy and Python random states, so random layers (dropout, RReLU) continue as in
      an uninterrupted run.
    - The training loader's position. Lightning restores it only while it builds the loader, but
      ``trainer.estimated_stepping_batches`` (used to size the LR schedule) builds the loader before
      the checkpoint is read; the saved position is applied here instead, before the first batch.
    """

    def on_train_start(self, trainer, pl_module) -> None:
        restore_train_loader_position(trainer)  # no-op unless resuming mid-epoch

    def state_dict(self) -> dict:
        np_state = np.random.get_state()
        return {
            "torch": torch.get_rng_state(),
            "numpy": (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]),
            "python": random.getstate(),
        }

    def load_state_dict(self, state: dict) -> None:
        torch.set_rng_state(state["torch"])
        kind, keys, *rest = state["numpy"]
        np.random.set_state((kind, keys.numpy().astype(np.uint32), *rest))
        random.setstate(state["python"])


class DivergenceError(RuntimeError):
    """Training produced a non-finite gradient."""


def first_nonfinite_gradient(module: nn.Module) -> tuple[str, int] | None:
    """(name, count) of the first parameter (in definition order) with a non-finite gradient, if any."""
    named = [(n, p.grad) for n, p in module.named_parameters() if p.grad is not None]
    if not named:
        return None
    norms = torch.stack(torch._foreach_norm([g.float() for _, g in named]))
    bad = (~torch.isfinite(norms)).nonzero().view(-1).tolist()
    return (named[bad[0]][0], len(bad)) if bad else None


class DivergenceGuard(L.Callback):
    """Checks the gradients after AMP unscaling, before clipping and the optimiser step.

    ``action=stop``: the step is not applied, the last good state is written to
    ``checkpoints/last-good.ckpt`` and training stops with a message naming the first layer whose
    gradient is not finite. ``action=skip``: the step is skipped and counted
    (``train/skipped_steps``); after ``max_skips`` skips it stops as above.
    """

    def __init__(self, action: str = "stop", max_skips: int = 100) -> None:
        if action not in ("stop", "skip"):
            raise ValueError(f"DivergenceGuard action must be 'stop' or 'skip', got {action!r}")
        self.action, self.max_skips = action, max_skips
        self.skipped = 0

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        found = first_nonfinite_gradient(pl_module)
        if found is None:
            return
        optimizer.zero_grad(set_to_none=True)  # the optimiser step becomes a no-op
        name, count = found
        self.skipped += 1
        for logger in trainer.loggers:
            logger.log_metrics({"train/skipped_steps": float(self.skipped)}, step=trainer.global_step)
        if self.action == "skip" and self.skipped <= self.max_skips:
            log.warning("step %d skipped: non-finite gradient in %s (%d tensors)", trainer.global_step, name, count)
            return
        path = checkpoint_dir(trainer) / "last-good.ckpt"
        trainer.save_checkpoint(path)
        raise DivergenceError(
            f"non-finite gradient at step {trainer.global_step}: first in {name} ({count} parameter tensors "
            f"affected); the last good state is in {path}"
        )

    def state_dict(self) -> dict:
        return {"skipped": self.skipped}

    def load_state_dict(self, state: dict) -> None:
        self.skipped = state.get("skipped", 0)
