"""Reading checkpoint files without trusting them.

A checkpoint is a file researchers download and share. ``weights_only=True`` keeps pickled code out of
it; the run config stored in it is data: eval, predict and export rebuild the model from its model
section alone, checked key by key (``yololab.stored_model``), and never instantiate anything it names.
A training run resuming a checkpoint builds its model from its own config and checks that the
checkpoint's tensors fit (:func:`check_fits`).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import torch
import yaml

from yololab.utils.paths import CONFIG_DIR


class CheckpointError(ValueError):
    """A file that is not a yololab checkpoint, or one that must not be loaded."""


def read_checkpoint(path: str | Path, map_location: str = "cpu") -> dict:
    """The checkpoint dict of ``path``, loaded with ``weights_only=True``; a clear error for any other file."""
    path = Path(path)
    if not path.is_file():
        if path.exists():  # a FIFO, a device or a folder: reading one could block or mean nothing
            raise CheckpointError(f"{path}: not a checkpoint (not a regular file)")
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's "please file an issue" about the pickle protocol
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises KeyError, EOFError, RuntimeError, UnpicklingError on other files
        raise CheckpointError(f"{path}: not a checkpoint ({load_failure(err)})") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise CheckpointError(f"{path}: not a checkpoint (it holds no state_dict)")
    return ckpt


def load_failure(err: Exception) -> str:
    """Why torch could not load a file, in one line."""
    text = str(err)
    if "Unsupported global" in text:  # pickled Python objects: weights_only refuses to build them
        reason = next(line for line in text.splitlines() if "Unsupported global" in line)
        return f"it holds pickled Python objects, which are never loaded: {reason.strip()[:200]}"
    if isinstance(err, EOFError):
        return "the file is empty or cut short"
    first = text.strip().splitlines()[0] if text.strip() else ""
    return f"torch.load failed: {type(err).__name__}" + (f": {first[:200]}" if first else "")


def stored_run(ckpt: dict, path: str | Path) -> dict:
    """The yololab part of a checkpoint (run ``config``, ``class_names``, ``wandb_id``); what of it may be used,
    and how it is checked, is ``yololab.stored_model``'s business."""
    meta = ckpt.get("yololab")
    if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
        raise CheckpointError(f"{path} was not written by yololab (no stored run config)")
    if not (isinstance(meta["config"].get("model"), dict) and isinstance(meta.get("class_names"), list)):
        raise CheckpointError(f"{path}: its stored run config lacks the model or the class names")
    return meta


def walk(node, key: str = "") -> Iterator[tuple[str, object]]:
    """(dotted key, value) of every leaf of a nested dict/list; list items as ``key.0``, ``key.1``."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else None
    if items is None:
        yield key, node
        return
    for k, v in items:
        yield from walk(v, f"{key}.{k}" if key else str(k))


def check_fits(ckpt: dict, module: torch.nn.Module, model_config: dict, path: str | Path) -> None:
    """Stop before Lightning's strict load (hundreds of "size mismatch" lines) when the checkpoint's tensors do
    not fit ``module``; say which model the checkpoint holds: its ``model/scale``, or the settings that differ."""
    ours, theirs = module.state_dict(), ckpt["state_dict"]
    reshaped = [k for k in ours.keys() & theirs.keys() if ours[k].shape != theirs[k].shape]
    missing, extra = ours.keys() - theirs.keys(), theirs.keys() - ours.keys()
    if not (reshaped or missing or extra):
        return
    stored = ckpt.get("yololab", {}).get("config", {}).get("model", {})
    lines = [f"{path} does not fit this run's model ({len(reshaped)} tensor(s) of another shape, {len(missing)} "
             f"missing, {len(extra)} unexpected)"]
    theirs_scale, ours_scale = scale_of(stored), scale_of(model_config)
    if theirs_scale and theirs_scale != ours_scale:
        lines.append(f"this checkpoint is model/scale={theirs_scale}, this run model/scale={ours_scale or 'custom'}: "
                     f"add model/scale={theirs_scale} to resume it")
    else:
        lines += [f"model.{key}: {old!r} in the checkpoint, {new!r} in this run"
                  for key, old, new in differences(stored, model_config)[:6]]
    raise CheckpointError("\n  ".join(lines))


# what a resume may change: where and how the run is computed, not which run it is (with the flat data keys that
# data.loader and data.cache hold since 2026-12, so that an older run's checkpoint still resumes)
RESUME_KEYS = ("ckpt_path", "test", "tags", "task_name", "threads", "numerics", "paths", "logger", "trainer.max_epochs",
               "trainer.max_time", "trainer.enable_progress_bar", "data.root", "data.loader", "data.cache",
               "data.num_workers", "data.persistent_workers", "data.pin_memory", "data.worker_nice", "data.ram_cache",
               "data.check_cache_dir")


def check_same_run(ckpt: dict, config: dict, path: str | Path) -> None:
    """Stop unless the checkpoint's stored run config is ``config`` apart from ``RESUME_KEYS`` and callbacks
    that only one of them has (a resume of another run, say another study arm, would report its metrics as
    this run's); name the keys that differ."""
    stored = ckpt.get("yololab", {}).get("config")
    if not isinstance(stored, dict):
        raise CheckpointError(f"{path} was not written by yololab (no stored run config): nothing says which run "
                              "it resumes")
    both = set(stored.get("callbacks") or {}) & set(config.get("callbacks") or {})
    found = [(key, old, new) for key, old, new in differences(stored, config)
             if not any(key == k or key.startswith(f"{k}.") for k in RESUME_KEYS)
             and (not key.startswith("callbacks.") or key.split(".")[1] in both)
             and in_run_folder(old, stored) != in_run_folder(new, config)]
    if found:
        shown = "; ".join(f"{key}: {old!r} there, {new!r} here" for key, old, new in found[:6])
        raise CheckpointError(f"{path} is another run's checkpoint: its config differs from this command's at "
                              f"{len(found)} key(s): {shown}. Resume it with its settings, or train afresh "
                              "without ckpt_path")


def in_run_folder(value, config: dict):
    """``value`` with the run folder (``paths.output_dir``) written as ``<run>``: a path inside it (a checkpoint
    folder, the trainer's root) is the same in the run folder of a resume in a new folder."""
    run_dir = (config.get("paths") or {}).get("output_dir")
    return value.replace(run_dir, "<run>") if isinstance(value, str) and run_dir else value


def scale_of(model_config: dict) -> str | None:
    """The ``configs/model/scale`` option whose values ``model_config`` holds, if one does."""
    flat = dict(walk(model_config))
    for file in sorted(Path(CONFIG_DIR, "model", "scale").glob("*.yaml")):
        values = dict(walk(yaml.safe_load(file.read_text()) or {}))
        if values and all(flat.get(key) == value for key, value in values.items()):
            return file.stem
    return None


def differences(a: dict, b: dict) -> list[tuple[str, object, object]]:
    """(key, value in a, value in b) for every leaf that differs between two nested configs."""
    flat_a, flat_b = dict(walk(a)), dict(walk(b))
    return [(k, flat_a.get(k), flat_b.get(k)) for k in sorted(flat_a.keys() | flat_b.keys())
            if flat_a.get(k) != flat_b.get(k)]
