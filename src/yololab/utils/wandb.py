"""Weights & Biases without surprises: online with credentials, otherwise offline, never a prompt."""

from __future__ import annotations

import logging
import netrc
import os
from pathlib import Path
from urllib.parse import urlparse

from lightning.pytorch.loggers import WandbLogger

from yololab.utils.private_api import drop_unset_wandb_anonymous

log = logging.getLogger(__name__)


def has_credentials() -> bool:
    """An API key in the environment or a netrc entry for the W&B host."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname
    path = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    try:
        return path.is_file() and netrc.netrc(path).authenticators(host) is not None
    except (netrc.NetrcParseError, OSError):
        return False


_LEGACY_MODES = {"dryrun": "offline", "run": "online"}  # wandb still writes WANDB_MODE=dryrun itself


def resolve_mode(mode: str = "auto") -> str:
    """``auto`` -> ``online`` with credentials, else ``offline``; ``WANDB_MODE`` wins when set."""
    mode = os.environ.get("WANDB_MODE", mode)
    mode = _LEGACY_MODES.get(mode, mode)
    if mode not in ("auto", "online", "offline", "disabled"):
        raise ValueError(f"unknown W&B mode {mode!r}; valid: auto, online, offline, disabled")
    if mode == "auto":
        return "online" if has_credentials() else "offline"
    return mode


def wandb_logger(mode: str = "auto", save_dir: str = ".", **kwargs) -> WandbLogger:
    """A WandbLogger in the resolved mode, writing under ``save_dir``."""
    resolved = resolve_mode(mode)
    os.environ.setdefault("WANDB_CONSOLE", "off")  # keep stdout a plain stream for CI logs
    # no version banner, no 50-line history and summary at the end (the run's own log says where it is)
    os.environ.setdefault("WANDB_QUIET", "true")
    Path(save_dir).mkdir(parents=True, exist_ok=True)
    if resolved == "offline":
        log.info("W&B: no credentials found, logging offline under %s (upload later with `wandb sync`)",
                 save_dir)
    logger = WandbLogger(save_dir=save_dir, offline=resolved == "offline", mode=resolved, **kwargs)
    drop_unset_wandb_anonymous(logger)
    return logger


def finish_wandb(exit_code: int = 0) -> None:
    """Close the active W&B run so the next run in this process starts clean; print the sync hint."""
    try:
        import wandb
    except ImportError:  # pragma: no cover - wandb is a dependency
        return
    run = wandb.run
    if run is None:
        return
    offline = run.settings.mode == "offline" or getattr(run, "offline", False)
    run_dir = Path(run.dir).parent
    wandb.finish(exit_code=exit_code)
    if offline:
        log.info("W&B offline run saved in %s; upload with: wandb sync %s", run_dir, run_dir)
