"""A run folder has one writer at a time: a lock file in it, held while a command writes there.

The lock is ``flock`` on ``<folder>/.lock`` (released by the kernel when its holder dies, even by SIGKILL);
the file names its holder (pid, host, start time, command), so a second writer stops with a message naming
the first. The file itself is never deleted (deleting a lock file races with a process about to take it).
A process may hand its lock to a child (the sweep runner to each run's training): the child inherits the
locked descriptor, named in ``$YOLOLAB_RUN_LOCK_FD``, and holds the folder with it. Only the first rank of a
distributed job takes the lock; the other ranks write where rank 0 says.

:class:`RunFolderGuard`, a Hydra callback (``configs/hydra/default.yaml``), takes the lock of a run's folder
before Hydra writes anything into it (``.hydra/``, the log file), and checks ``task_name``, which names the
folder under ``logs/``.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shlex
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

LOCK_FILE = ".lock"
INHERITED_FD_ENV = "YOLOLAB_RUN_LOCK_FD"
RANK_ENV = ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")
log = logging.getLogger(__name__)
_held: dict[str, int] = {}  # resolved folder -> the locked descriptor this process opened


class RunFolderBusy(RuntimeError):
    """Another process writes into the run folder."""


def first_rank() -> bool:
    """Whether this process is rank 0 of its job (or not part of a distributed job)."""
    return all(os.environ.get(key, "0") in ("", "0") for key in RANK_ENV)


def _same_file(fd: int, path: Path) -> bool:
    try:
        a, b = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def inherited(folder: Path) -> bool:
    """Whether this process holds ``folder``'s lock through a descriptor its parent handed it."""
    fd = os.environ.get(INHERITED_FD_ENV, "")
    return fd.isdigit() and _same_file(int(fd), folder / LOCK_FILE)


def holds(folder: Path) -> bool:
    return str(folder.resolve()) in _held or inherited(folder)


def owner_line() -> str:
    command = shlex.join([Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python", *sys.argv[1:]])
    return (f"pid {os.getpid()} on host {socket.gethostname()}, since "
            f"{time.strftime('%Y-%m-%d %H:%M:%S')} ({command[:300]})")


def acquire(folder: str | Path) -> bool:
    """Hold ``folder``'s lock for this process (the folder is created); False if it already held it. A
    :class:`RunFolderBusy` naming the holder if another process does."""
    folder = Path(folder)
    if holds(folder):
        return False
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 2000, 0).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise RunFolderBusy(f"{folder} is in use by {holder}. A run folder has one writer at a time: wait for it "
                            "to end, or choose another folder") from None
    except OSError as err:  # a filesystem without locks (some network mounts): say so, and go on
        os.close(fd)
        log.warning("cannot lock %s (%s): nothing stops a second writer in this folder", folder, err)
        return False
    os.ftruncate(fd, 0)
    os.pwrite(fd, (owner_line() + "\n").encode(), 0)
    _held[str(folder.resolve())] = fd
    return True


def release(folder: str | Path) -> None:
    fd = _held.pop(str(Path(folder).resolve()), None)
    if fd is not None:
        os.close(fd)


@contextlib.contextmanager
def holding(folder: str | Path) -> Iterator[None]:
    """``folder``'s lock held for the block (by the first rank; a lock this process holds already stays held)."""
    taken = first_rank() and acquire(folder)
    try:
        yield
    finally:
        if taken:
            release(folder)


def handed_to_child(folder: str | Path) -> tuple[dict[str, str], tuple[int, ...]]:
    """(environment entries, descriptors to pass) that hand this process's lock of ``folder`` to a child."""
    fd = _held.get(str(Path(folder).resolve()))
    return ({INHERITED_FD_ENV: str(fd)}, (fd,)) if fd is not None else ({}, ())


def check_task_name(name) -> None:
    """``task_name`` names a folder under ``logs/`` and the log file: one plain folder name."""
    text = str(name)
    if not text or text in (".", "..") or "/" in text or "\\" in text or "\0" in text:
        raise ValueError(f"task_name={text!r}: give a plain folder name (no '/', not '.' or '..'); it names the "
                         "run's folder under paths.log_dir")


class RunFolderGuard(Callback):
    """Before Hydra creates a run's folder: ``task_name`` checked, and the folder's lock taken for the process.
    It exits with the message: Hydra turns a callback's exceptions into warnings."""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        try:
            if "task_name" in config:
                check_task_name(config.task_name)
            if first_rank():
                acquire(Path(config.hydra.run.dir))
        except (ValueError, RunFolderBusy) as err:
            raise SystemExit(f"error: {err}") from None

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        if "task_name" in config:
            try:
                check_task_name(config.task_name)
            except ValueError as err:
                raise SystemExit(f"error: {err}") from None
