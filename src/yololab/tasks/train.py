"""Training: compose the objects from the config, fit, optionally test, report the metrics."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import hydra
import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

from yololab.checkpoint_io import AtomicCheckpointIO
from yololab.checkpoints import check_fits, check_same_run, read_checkpoint
from yololab.optim import check_optimizer
from yololab.utils import environment, numerics
from yololab.utils.csv_logger import AppendingCSVLogger
from yololab.utils.instantiate import instantiate_group
from yololab.utils.run_files import metrics_line, trainer_metrics, write_run_files
from yololab.utils.run_folder import holding
from yololab.utils.settings import check
from yololab.utils.wandb import finish_wandb

log = logging.getLogger(__name__)


def resolve_checkpoint(cfg: DictConfig) -> Path | None:
    """``ckpt_path``: ``last`` (see :func:`last_checkpoint`), a run folder (its ``checkpoints/last.ckpt``) or a file."""
    ckpt_path = cfg.get("ckpt_path")
    if not ckpt_path:
        return None
    if ckpt_path == "last":
        return last_checkpoint(Path(cfg.paths.output_dir), Path(cfg.paths.log_dir) / cfg.task_name, cfg.trainer)
    path = Path(ckpt_path)
    if path.is_dir():
        path = path / "checkpoints" / "last.ckpt"
    if not path.is_file():
        raise FileNotFoundError(f"ckpt_path: checkpoint not found: {path}")
    return path


def last_checkpoint(run_dir: Path, task_dir: Path, trainer_cfg: DictConfig) -> Path | None:
    """``ckpt_path=last``: this run folder's ``checkpoints/last.ckpt``.

    A run folder given on the command line (``hydra.run.dir``, as ``scripts/slurm_train.sbatch`` does) without
    one yet is a first attempt: it starts afresh. Otherwise the run folder is a new one, so the newest
    ``last.ckpt`` of the task's earlier runs (``<log_dir>/<task_name>``) is resumed, or, if there is none, the
    run stops: it never trains from scratch while the user believes it resumes.
    """
    own = run_dir / "checkpoints" / "last.ckpt"
    if own.is_file():
        log.info("ckpt_path=last: resuming %s", own)
        return own
    if fixed_run_folder():
        log.warning("ckpt_path=last: no %s yet: starting from scratch", own)
        return None
    found = sorted(task_dir.glob("**/checkpoints/last.ckpt"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise FileNotFoundError(
            f"ckpt_path=last: this run folder is new and no earlier run under {task_dir} has a "
            "checkpoints/last.ckpt. Resume a run with hydra.run.dir=<run folder> or ckpt_path=<file>")
    if trainer_cfg.get("devices", 1) != 1 or trainer_cfg.get("num_nodes", 1) != 1:
        raise ValueError(f"ckpt_path=last: with several processes name the checkpoint, so that every rank "
                         f"resumes the same one: ckpt_path={found[-1]} (or hydra.run.dir={found[-1].parents[1]})")
    log.info("ckpt_path=last: resuming the newest last.ckpt under %s: %s (this run writes to %s)", task_dir,
             found[-1], run_dir)
    return found[-1]


def fixed_run_folder() -> bool:
    """Whether the run folder was named (``hydra.run.dir=...``, ``$YOLOLAB_RUN_DIR``), not a new timestamped one."""
    if os.environ.get("YOLOLAB_RUN_DIR"):
        return True
    if not HydraConfig.initialized():
        return False
    return any(o.split("=", 1)[0].lstrip("+~") == "hydra.run.dir" for o in HydraConfig.get().overrides.hydra)


def check_devices(trainer_cfg: DictConfig) -> None:
    """Asking for more GPUs than exist fails here, with a fix that works, instead of deep inside Lightning."""
    devices, accelerator = trainer_cfg.get("devices", 1), trainer_cfg.get("accelerator", "auto")
    if not isinstance(devices, int) or accelerator not in ("auto", "gpu", "cuda"):
        return
    available = torch.cuda.device_count()
    if devices > max(available, 1) or (accelerator != "auto" and devices > available):
        fix = f"trainer.devices<={available}" if available else "trainer=cpu (one CPU process)"
        raise ValueError(f"trainer.devices={devices} but this machine has {available} GPU(s). Use {fix}, "
                         "or trainer=ddp_cpu trainer.devices=2 to train in two CPU processes")


def set_threads(threads: int | None) -> None:
    """``threads``: torch's CPU threads; logged, since a CPU run's numbers depend on the count."""
    check("threads", threads)
    if threads is not None:
        torch.set_num_threads(threads)
    log.info("CPU threads: %d%s", torch.get_num_threads(), "" if threads else " (torch's default)")


def build(cfg: DictConfig, checkpoint: Path | None = None):
    """(datamodule, model, trainer) from a composed config; the model gets the data's class names.

    Settings that would fail later (devices, the optimiser's) and a ``checkpoint`` to resume that does not fit
    the model stop here, before the data scan. When resuming, the W&B run continues under the checkpoint's run
    id, and the CSV log forgets the rows logged after the checkpoint (the resumed run logs those steps again).
    """
    check_devices(cfg.trainer)
    resume = read_checkpoint(checkpoint) if checkpoint else None
    set_threads(cfg.get("threads"))
    numerics.apply(cfg.get("numerics", "native"))
    L.seed_everything(cfg.seed, workers=True)
    datamodule = hydra.utils.instantiate(cfg.data)
    model = hydra.utils.instantiate(cfg.model, class_names=datamodule.class_names)
    check_optimizer(model.optimizer_factory)
    model.config = OmegaConf.to_container(cfg, resolve=True)
    model.config.pop("hydra", None)  # Hydra's own settings (compose() adds them); a checkpoint keeps the run's
    model.config["model"]["init_from_sha256"] = model.init_from_sha256  # the trunk's identity, for runs.csv
    if resume is not None:
        check_fits(resume, model, model.config["model"], checkpoint)
        check_same_run(resume, model.config, checkpoint)
    wandb_id = (resume or {}).get("yololab", {}).get("wandb_id")
    if wandb_id and cfg.get("logger") and cfg.logger.get("wandb"):
        with open_dict(cfg):
            cfg.logger.wandb.id, cfg.logger.wandb.resume = wandb_id, "allow"
    loggers = instantiate_group(cfg.get("logger"))
    trainer = hydra.utils.instantiate(cfg.trainer, callbacks=instantiate_group(cfg.get("callbacks")),
                                      logger=loggers or False, plugins=[AtomicCheckpointIO()])
    for logger in loggers:
        logger.log_hyperparams(model.config)
        if resume is not None and isinstance(logger, AppendingCSVLogger):
            logger.forget_from(logged_steps(resume))
    return datamodule, model, trainer


def logged_steps(ckpt: dict) -> int:
    """The loggers' step counter at the checkpoint: rows logged at this step or later came after it."""
    loop = ckpt.get("loops", {}).get("fit_loop", {}).get("epoch_loop.state_dict", {})
    return int(loop.get("_batches_that_stepped", ckpt.get("global_step", 0)))


def run(cfg: DictConfig) -> dict[str, float]:
    """Train (and test, with ``test=true``) in the run folder, which no other process may write meanwhile
    (:mod:`yololab.utils.run_folder`); returns the final metrics."""
    with holding(cfg.paths.output_dir):
        return _run(cfg)


def _run(cfg: DictConfig) -> dict[str, float]:
    checkpoint = resolve_checkpoint(cfg)
    datamodule, model, trainer = build(cfg, checkpoint)
    if trainer.is_global_zero:  # what the numbers depend on beyond the command: CPU, libraries, threads
        environment.record(Path(cfg.paths.output_dir))
    try:
        if cfg.get("train", True):
            trainer.fit(model, datamodule=datamodule, ckpt_path=checkpoint, weights_only=True)
        metrics = trainer_metrics(trainer)
        if cfg.get("test", False):
            best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
            trainer.test(model, datamodule=datamodule, ckpt_path=best or None, weights_only=True)
            metrics.update(trainer_metrics(trainer))
    except BaseException:
        finish_wandb(exit_code=1)
        raise
    finish_wandb()
    if trainer.is_global_zero:
        write_run_files(Path(cfg.paths.output_dir), model.config, metrics)
        log.info("final metrics: %s", metrics_line(metrics))
        log.info("outputs in %s", cfg.paths.output_dir)
    return metrics
