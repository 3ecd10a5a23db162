"""Weights & Biases without surprises: online with credentials, otherwise offline, never a prompt."""

from __future__ import annotations

import logging
import netrc
import os
import socket
import threading
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import getproxies

from lightning.pytorch.loggers import WandbLogger

from yololab.utils.private_api import drop_unset_wandb_anonymous

log = logging.getLogger(__name__)
CONNECT_TIMEOUT_S = 5.0


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


def server_unreachable(timeout: float = CONNECT_TIMEOUT_S) -> str | None:
    """Why the W&B server (``WANDB_BASE_URL``) cannot be reached within ``timeout`` seconds, or None if a TCP
    connection opens. Asked before an online run: wandb itself retries for minutes, then fails the run."""
    url = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai"))
    proxy = urlparse(getproxies().get(url.scheme, ""))  # behind a proxy, the proxy is what must answer
    target = proxy if proxy.hostname else url
    address = (target.hostname or "", target.port or (80 if target.scheme == "http" else 443))
    outcome: list[str | None] = []

    def connect() -> None:  # in a thread: a name lookup has no timeout of its own
        try:
            socket.create_connection(address, timeout=timeout).close()
            outcome.append(None)
        except OSError as err:
            outcome.append(err.strerror or str(err) or type(err).__name__)

    thread = threading.Thread(target=connect, daemon=True)
    thread.start()
    thread.join(timeout + 1)
    reason = outcome[0] if outcome else f"no answer in {timeout:g} s"
    return None if reason is None else f"{target.geturl()}: {reason}"


def wandb_logger(mode: str = "auto", save_dir: str = ".", **kwargs) -> WandbLogger:
    """A WandbLogger in the resolved mode, writing under ``save_dir``; offline, with a warning saying so, when
    the server cannot be reached."""
    resolved = resolve_mode(mode)
    os.environ.setdefault("WANDB_CONSOLE", "off")  # keep stdout a plain stream for CI logs
    # no version banner, no 50-line history and summary at the end (the run's own log says where it is)
    os.environ.setdefault("WANDB_QUIET", "true")
    Path(save_dir).mkdir(parents=True, exist_ok=True)
    if resolved == "offline":
        log.info("W&B: no credentials found, logging offline under %s (upload later with `wandb sync`)",
                 save_dir)
    elif resolved == "online" and (reason := server_unreachable()):
        log.warning("W&B: the server cannot be reached (%s): logging offline under %s instead (upload later "
                    "with `wandb sync`)", reason, save_dir)
        resolved = "offline"
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
