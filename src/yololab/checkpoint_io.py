"""Checkpoints saved atomically on their own filesystem.

Lightning's ``TorchCheckpointIO`` writes through an fsspec transaction: into a file in the system temp folder
(``$TMPDIR``), then ``shutil.move`` to the target. When ``$TMPDIR`` lies on another filesystem that move is a
copy into the target, so a kill during it leaves ``last.ckpt`` cut short, the previous copy gone, and the
temp file behind. :class:`AtomicCheckpointIO` writes ``.<name>.partial`` in the target's own folder, fsyncs
it and ``os.replace``-s it over the target: the target is always either the previous checkpoint or the new
one. A failed write (a full disk) removes the partial file and says so in one line.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO


class CheckpointSaveError(OSError):
    """A checkpoint could not be written; the file it would have replaced is intact."""


def partial_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.partial")


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_save(obj: Any, path: str | Path) -> None:
    """``torch.save(obj)`` to ``path``, atomically (see the module docstring)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_path(path)
    buffer = io.BytesIO()  # serialised first: torch's writer turns a failed file write into a RuntimeError
    torch.save(obj, buffer)
    try:
        with open(partial, "wb") as f:
            f.write(buffer.getbuffer())
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, path)
        _fsync_dir(path.parent)
    except BaseException as err:
        partial.unlink(missing_ok=True)
        if not isinstance(err, OSError):
            raise
        kept = "the previous one is intact" if path.exists() else "no earlier one existed"
        raise CheckpointSaveError(f"could not save the checkpoint {path} ({err.strerror or err}); {kept}") from None


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint IO, saving with :func:`atomic_save` (a local path; no ``storage_options``)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError(f"storage_options are not supported by {type(self).__name__}")
        atomic_save(checkpoint, path)
