"""Hydra entry points for the scripts in ``scripts/``, reading the repository's ``configs/``.

Every entry point puts the project root on ``sys.path`` and imports the modules its ``imports`` key lists
before its task runs (:mod:`yololab.utils.imports`), so a fork's classes and registrations reach it. Every entry
point prints an error that yololab raises on purpose as its message alone and exits with
status 1; ``HYDRA_FULL_ERROR=1`` shows the full traceback instead.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import sys
import traceback
from pathlib import Path

import hydra
from hydra.errors import InstantiationException
from omegaconf import DictConfig

from yololab.utils.paths import CONFIG_DIR

PACKAGE_DIR = Path(__file__).resolve().parent
log = logging.getLogger(__name__)
# config keys that were renamed: an override of the old key stops, naming the new one (data.cache, a setting
# once, holds data.cache.ram and data.cache.check_dir now: only a mapping may be given to it)
RENAMED_KEYS = {
    "data.cache": "data.cache.ram=true|false",
    "data.scan_cache": "data.cache.check_dir=<folder>",
    "data.ram_cache": "data.cache.ram=true|false",
    "data.check_cache_dir": "data.cache.check_dir=<folder>",
    "data.num_workers": "data.loader.num_workers=<n>",
    "data.pin_memory": "data.loader.pin_memory=true|false",
    "data.persistent_workers": "data.loader.persistent_workers=true|false",
    "data.worker_nice": "data.loader.worker_nice=<n>",
}


def deliberate(err: BaseException) -> BaseException | None:
    """The error behind ``err`` that yololab raised on purpose (a ``raise`` statement in yololab's code, whose
    message is meant for the user), or None (a bug, or a library's error: those keep their traceback).
    Hydra wraps what a ``_target_`` raises in an InstantiationException; its cause is the error."""
    while isinstance(err, InstantiationException) and err.__cause__ is not None:
        err = err.__cause__
    frames = traceback.extract_tb(err.__traceback__)
    if not frames or not Path(frames[-1].filename).resolve().is_relative_to(PACKAGE_DIR):
        return None
    return err if (frames[-1].line or "").startswith("raise") else None


def prepare(cfg: DictConfig) -> None:
    """What every command does before its task: put the project root on ``sys.path`` and import the modules
    ``imports`` lists, before anything the config names is instantiated (:mod:`yololab.utils.imports`); then
    check the config's values (a wrong value stops here, before the data scan and before yololab loads torch)."""
    from yololab.utils.imports import add_project_root, import_modules
    from yololab.utils.numerics import set_variables
    from yololab.utils.settings import check_settings

    add_project_root()
    import_modules(cfg.get("imports"))  # first: a fork's registered names are valid values
    check_settings(cfg)
    set_variables(cfg.get("numerics", "native"))  # before torch's first kernel (utils.numerics)


def reported(task):
    """``task`` with a readable console (``utils.console``), its config's values checked first
    (``utils.settings``), and an error yololab raised on purpose logged as its message alone (console and log
    file), ending the process with status 1."""

    @functools.wraps(task)
    def run(cfg: DictConfig):
        from yololab.utils.console import readable_console

        try:
            prepare(cfg)
            readable_console()
            return task(cfg)
        except Exception as err:
            cause = deliberate(err)
            if cause is None or os.environ.get("HYDRA_FULL_ERROR") == "1":
                raise
            log.error("%s", cause)
            raise SystemExit(1) from None

    return run


def refuses_renamed_keys(main):
    """``main`` (a Hydra entry point) stopping first on an override of a key in ``RENAMED_KEYS``, with the new
    key named (Hydra alone answers "Key 'num_workers' is not in struct" and suggests ``+data.num_workers``, which
    the data module would refuse). A sweep's ``-m data.num_workers=0,1`` is refused alike."""

    @functools.wraps(main)
    def checked(*args, **kwargs):
        for arg in sys.argv[1:]:
            key, _, value = arg.partition("=")
            key = key.lstrip("+~")
            if key in RENAMED_KEYS and not value.lstrip().startswith("{"):
                raise SystemExit(f"{key} was renamed: use {RENAMED_KEYS[key]}")
        return main(*args, **kwargs)

    return checked


def entry(config_name: str):
    """``hydra.main`` on ``configs/<config_name>.yaml`` around a :func:`reported` task. Each task below imports
    its module inside its body, so ``--help`` and config errors come before torch loads."""

    def wrap(task):
        main = hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name=config_name)(reported(task))
        return refuses_renamed_keys(main)

    return wrap


@entry("train")
def train(cfg: DictConfig) -> float | None:
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    from yololab.multirun import job_scope, optimized_value
    from yololab.tasks.train import run

    try:
        with job_scope(cfg):
            metrics = run(cfg)
    except SIGTERMException:  # preempted: a checkpoint was written; report it as killed by SIGTERM
        sys.exit(128 + signal.SIGTERM)
    return optimized_value(cfg, metrics)


@entry("check_data")
def check_data(cfg: DictConfig) -> None:
    from yololab.tasks.check_data import run

    status = run(cfg)
    if status:
        raise SystemExit(status)


@entry("eval")
def evaluate(cfg: DictConfig) -> None:
    from yololab.tasks.evaluate import run

    run(cfg)


@entry("show_augmentations")
def show_augmentations(cfg: DictConfig) -> None:
    from yololab.tasks.show_augmentations import run

    run(cfg)


@entry("benchmark_loader")
def benchmark_loader(cfg: DictConfig) -> None:
    from yololab.tasks.benchmark_loader import run

    run(cfg)


@entry("predict")
def predict(cfg: DictConfig) -> None:
    from yololab.tasks.predict import run

    run(cfg)


@entry("export")
def export(cfg: DictConfig) -> None:
    from yololab.tasks.export import run

    run(cfg)


@entry("benchmark")
def benchmark(cfg: DictConfig) -> None:
    from yololab.tasks.benchmark import run

    run(cfg)
