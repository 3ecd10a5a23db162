"""OmegaConf resolvers the configs use, registered when :mod:`yololab.utils.paths` is imported.

``${yololab.cwd:}`` is the folder the command was started from. ``${hydra:runtime.cwd}`` says the same inside
a job, but Hydra resolves ``hydra.sweep.dir`` (which sits under ``paths.log_dir``) before any job has set
its HydraConfig, so a ``-m`` sweep could not start when ``paths.root_dir`` went through it.
"""

from __future__ import annotations

import os

from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf


def start_dir() -> str:
    """Hydra's ``runtime.cwd`` inside a job (right even with ``hydra.job.chdir=true``), else the current folder."""
    if HydraConfig.initialized():
        return HydraConfig.get().runtime.cwd
    return os.getcwd()


def register() -> None:
    if not OmegaConf.has_resolver("yololab.cwd"):
        OmegaConf.register_new_resolver("yololab.cwd", start_dir)
