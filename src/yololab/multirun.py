"""What one job of a Hydra multirun (``-m``, an Optuna search) needs: DDP in it, and jobs kept apart.

Lightning starts the other DDP ranks of a run by starting this script again with ``sys.argv`` plus
``hydra.run.dir=<HydraConfig's run.dir>``. In a ``-m`` job that command is the whole sweep again and
``run.dir`` is not the job's folder: every rank would start a sweep of its own, in folders of its own
(lightning-hydra-template issue #393). :func:`job_scope` makes that command this job alone, in this job's
folder. Afterwards it undoes what a DDP job leaves in the process: Lightning reuses a process group that is
still initialised, and reads ``LOCAL_RANK`` in the environment as "the ranks were started by someone else",
so the next job of the sweep would wait for the previous job's ranks, which are gone.

A launcher that runs jobs in processes of its own (joblib's workers, or submitit's outside SLURM) has its
own ``__main__``, not scripts/train.py, so Lightning cannot start ranks from there; :func:`check_launcher`
refuses that combination, in the main process before any job starts (:class:`LauncherCheck`, a Hydra
callback that configs/hydra/default.yaml installs) and again in each job, whose config may differ by its
sweep values.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, read_write

log = logging.getLogger(__name__)

# launchers under which DDP works: the basic one runs each job in the script's own process, so Lightning can
# start the ranks; SLURM's starts one task per rank
DDP_LAUNCHERS = (
    "hydra._internal.core_plugins.basic_launcher.BasicLauncher",
    "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher",
)
# the command line's choice of config, kept in the rank's command
CONFIG_FLAGS = ("--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd")
# set in the main process by Lightning's DDP launcher; restored after each job
DDP_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")


def in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def device_count(devices, accelerator: str) -> int:
    """Devices per node, as Lightning counts them: a number, ``-1`` or ``auto`` (every GPU, else one CPU
    process), a list or a ``"0,1"`` string of indices."""
    if isinstance(devices, str) and devices != "auto":
        devices = [d for d in devices.split(",") if d.strip()] if "," in devices else int(devices)
    if not isinstance(devices, (int, str)):
        return len(devices)
    if devices in (-1, "auto"):
        import torch

        if accelerator in ("auto", "gpu", "cuda") and torch.cuda.device_count():
            return torch.cuda.device_count()
        return (os.cpu_count() or 1) if devices == -1 else 1
    return devices


def spawns_ranks(trainer: Mapping) -> bool:
    """Whether Lightning would start the DDP ranks itself, by running the script again."""
    from lightning.fabric.plugins.environments import SLURMEnvironment, TorchElasticEnvironment

    if SLURMEnvironment.detect() or TorchElasticEnvironment.detect() or "LOCAL_RANK" in os.environ:
        return False  # the ranks were started from outside (srun, torchrun)
    strategy = str(trainer.get("strategy", "auto"))
    if "spawn" in strategy or "fork" in strategy:
        return False
    devices = device_count(trainer.get("devices", 1), str(trainer.get("accelerator", "auto")))
    return devices * int(trainer.get("num_nodes", 1)) > 1


def check_launcher(cfg: DictConfig, hydra_cfg: DictConfig) -> None:
    """Refuse DDP ranks that Lightning would start from a job that a launcher runs in a process of its own."""
    if hydra_cfg.launcher.get("_target_") in DDP_LAUNCHERS or not spawns_ranks(cfg.trainer):
        return
    name = hydra_cfg.runtime.choices.get("hydra/launcher")
    raise ValueError(
        f"hydra/launcher={name} runs each job in a process of its own, from which Lightning cannot start the "
        f"other DDP ranks (trainer.devices={cfg.trainer.get('devices')}, strategy={cfg.trainer.get('strategy')}). "
        "For a sweep of DDP runs use Hydra's basic launcher (leave hydra/launcher out: one run after another, "
        "each with all its ranks), or scripts/sweep.py --jobs K (every run a process of its own); on SLURM, "
        "hydra/launcher=slurm starts one task per device instead."
    )


class LauncherCheck(Callback):
    """:func:`check_launcher` on the sweep's config, before the launcher starts any job. It exits: Hydra turns
    a callback's exceptions into warnings."""

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        if "trainer" not in config:
            return
        try:
            check_launcher(config, config.hydra)
        except ValueError as err:
            raise SystemExit(f"error: {err}") from None


@contextmanager
def job_scope(cfg: DictConfig) -> Iterator[None]:
    """Run one job of a multirun: DDP ranks relaunch this job alone, in its folder; the DDP state it leaves
    in the process (process group, rank variables) is cleared afterwards. Outside a multirun: nothing."""
    if not in_multirun():
        yield
        return
    hydra_cfg = HydraConfig.get()
    check_launcher(cfg, hydra_cfg)
    argv, env = list(sys.argv), {key: os.environ.get(key) for key in DDP_ENV}
    # hydra.mode=RUN: a config that sets hydra.mode=MULTIRUN itself (hparams_search) must not sweep again
    sys.argv = [sys.argv[0], *config_flags(argv[1:]), *hydra_cfg.overrides.task, "hydra.mode=RUN"]
    with read_write(hydra_cfg):
        hydra_cfg.run.dir = hydra_cfg.runtime.output_dir
    try:
        yield
    finally:
        sys.argv = argv
        close_process_group()
        for key, value in env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def config_flags(args: list[str]) -> list[str]:
    """The ``--config-name``/``--config-dir``/``--config-path`` arguments (with their values) in ``args``."""
    kept = []
    for i, arg in enumerate(args):
        if arg.split("=", 1)[0] in CONFIG_FLAGS:
            kept += [arg] if "=" in arg else args[i:i + 2]
    return kept


def optimized_value(cfg: DictConfig, metrics: Mapping[str, float]) -> float | None:
    """What a sweeper (Optuna) optimises: the final value of ``optimized_metric``."""
    name = cfg.get("optimized_metric")
    if name and name not in metrics:
        log.warning("optimized_metric=%s was not logged (logged: %s); returning None to the sweeper",
                    name, ", ".join(sorted(metrics)) or "nothing")
    return metrics.get(name) if name else None


def close_process_group() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
