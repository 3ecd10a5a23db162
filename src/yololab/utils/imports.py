"""A fork's own modules, reachable from every entry point without editing yololab.

Two mechanisms, as in lightning-hydra-template (``rootutils``) and MMYOLO (``custom_imports``):

- the project root (the nearest folder above the working directory holding ``pyproject.toml``, else the folder
  holding yololab's ``configs/``) goes on ``sys.path``, so ``model.head.activation=myfork.acts.ScaledTanh:2``
  finds ``myfork/`` beside ``configs/``;
- ``imports=[myfork.acts,myfork.heads]`` imports modules before the config is instantiated, so a module that
  calls ``register_activation``, ``register_format`` or ``register_head`` has run when its names are used.

A checkpoint records the modules its config needs (``needed_modules``). Eval, predict and export never import
them on the checkpoint's word: a class from a module the user did not import is refused, naming the
``imports=`` to pass (:func:`missing_import`). A module imported through ``imports=`` is trusted as yololab's
own code is: its classes may be named by a checkpoint (:func:`user_imported`).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable
from pathlib import Path

IMPORTED: list[str] = []  # the modules ``imports=`` named in this process, in order
TRUSTED_PREFIXES = ("yololab", "torch", "torchvision", "lightning")  # never a fork's module


def project_root(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` (the working directory) holding ``pyproject.toml``; else the
    folder holding yololab's ``configs/`` (the checkout the entry scripts belong to)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file():
            return folder
    from yololab.utils.paths import CONFIG_DIR

    return Path(CONFIG_DIR).resolve().parent


def add_project_root(start: Path | None = None) -> Path:
    """Put :func:`project_root` on ``sys.path`` (first), once; returns it."""
    root = str(project_root(start))
    if root not in sys.path:
        sys.path.insert(0, root)
    return Path(root)


def import_modules(names, key: str = "imports") -> list[str]:
    """Import every dotted module name in ``names`` (a list, as the ``imports`` key gives it), recording each
    in :data:`IMPORTED`; a name that is not a module path, or that fails to import, stops with ``key`` named."""
    names = list(names or [])
    for name in names:
        if not (isinstance(name, str) and name and all(part.isidentifier() for part in name.split("."))):
            raise ValueError(f"{key}={names}: {name!r} is not a module path (such as myfork.acts)")
        try:
            importlib.import_module(name)
        except ImportError as err:
            raise ValueError(f"{key}: cannot import {name!r} ({err}); a fork's package sits in the project root "
                             f"({project_root()}) or on PYTHONPATH") from None
        if name not in IMPORTED:
            IMPORTED.append(name)
    return names


def user_imported(module: str) -> bool:
    """Whether ``module`` is one that ``imports=`` named (or a submodule of one) and is loaded."""
    return module in sys.modules and any(module == n or module.startswith(f"{n}.") for n in IMPORTED)


def is_fork_module(module: str) -> bool:
    return module.split(".")[0] not in TRUSTED_PREFIXES


def module_of(dotted: str) -> str:
    """The module of a dotted class path (``myfork.acts.ScaledTanh:2`` -> ``myfork.acts``)."""
    return dotted.split(":", 1)[0].rpartition(".")[0]


def needed_modules(config: dict) -> list[str]:
    """The fork modules a run config needs: its ``imports`` and the modules of the classes its model section
    names (``_target_`` values, dotted activation paths) outside yololab and torch."""
    found = [str(n) for n in config.get("imports") or []]
    for key, value in _leaves(config.get("model") or {}):
        if isinstance(value, str) and (key == "_target_" or key.endswith("activation")) and "." in value:
            module = module_of(value)
            if module and is_fork_module(module):
                found.append(module)
    return list(dict.fromkeys(found))


def missing_import(dotted: str, recorded: Iterable[str] = ()) -> str:
    """The advice for a class a checkpoint names from a module that was not imported: which ``imports=``."""
    module = module_of(dotted)
    names = list(dict.fromkeys([*recorded, module])) if module else list(recorded)
    return (f"{dotted} comes from {module}, which this command did not import with imports= (a checkpoint never "
            f"imports code itself): if it is your fork's, pass imports=[{','.join(names)}]")


def _leaves(node, key: str = ""):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _leaves(v, str(k))
    elif isinstance(node, list):
        for v in node:
            yield from _leaves(v, key)
    else:
        yield key, node
