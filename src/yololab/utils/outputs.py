"""Where predict and export write: new files only, inside the folder they were given.

No output may be an input, a checkpoint, a link, a path that leaves its output folder (``..``, a linked
sub-folder), or a file the command did not write. Each output is checked before the command computes
anything, and written with ``O_EXCL`` (``open(..., "x")``), which also refuses a link put in its place
meanwhile. A folder that cannot be created or written fails with one message naming it.
"""

from __future__ import annotations

import os
from pathlib import Path


class OutputError(ValueError):
    """An output path the command refuses to write, or cannot."""


def check_new_output(path: Path, folder: Path, key: str) -> None:
    """``path``, to be written below ``folder`` (named by the config key ``key``), is new and, with every link
    resolved, inside ``folder``."""
    if path.is_symlink():
        raise OutputError(f"{key}: {path} is a symbolic link (to {os.readlink(path)}); nothing is written through "
                          "a link: remove it or choose another output")
    real, base = path.resolve(), folder.resolve()
    if not real.is_relative_to(base):
        raise OutputError(f"{key}: {path} would be written outside the output folder {folder} (at {real}); "
                          "give a path inside it")
    if path.exists():
        raise OutputError(f"{key}: {path} already exists (from an earlier run?); this command writes only new "
                          "files, never over one it did not write: choose a new output, or move that file away")


def make_folder(folder: Path, key: str) -> None:
    """``folder`` and its parents created, or one message saying why they cannot be."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"{key}: cannot create the folder {folder} ({err.strerror or err})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{key}: the folder {folder} is not writable")


def write_new(path: Path, data: bytes, key: str) -> None:
    """``data`` written to ``path``, which must not exist (nor be a link); its folder is created."""
    make_folder(path.parent, key)
    try:
        with open(path, "xb") as f:
            f.write(data)
    except FileExistsError:
        raise OutputError(f"{key}: {path} appeared while this command ran; it was not overwritten") from None
    except OSError as err:
        path.unlink(missing_ok=True)  # this command's own partial file
        raise OutputError(f"{key}: could not write {path} ({err.strerror or err})") from None
