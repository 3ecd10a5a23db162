"""Reading checkpoint files without trusting them.

A checkpoint is a file researchers download and share. ``weights_only=True`` keeps pickled code out
of it, but eval, predict and export rebuild the model from the run config stored in it with
``hydra.utils.instantiate``, which calls whatever a ``_target_`` names (``builtins.open`` with
``'w'`` truncates a file). So a stored config may only name the targets that the YAML files of the
repository's ``configs/`` name (the model, data, optimiser and augmentation classes), and may hold
no interpolation (a stored config is saved resolved; ``${oc.decode:...}`` could build a new
``_target_`` when Hydra resolves it), and an activation given as a dotted class path
(``torch.nn.Hardtanh``) only from a module already imported (loading imports nothing a file names).
Anything else is refused, naming the key.
"""

from __future__ import annotations

import functools
import sys
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
    """The yololab part of a checkpoint (run ``config``, ``class_names``, ``wandb_id``), its config checked."""
    meta = ckpt.get("yololab")
    if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
        raise CheckpointError(f"{path} was not written by yololab (no stored run config)")
    config = meta["config"]
    if not (isinstance(config.get("model"), dict) and isinstance(config.get("data"), dict)
            and isinstance(meta.get("class_names"), list)):
        raise CheckpointError(f"{path}: its stored run config lacks the model, the data or the class names")
    check_config(config, path)
    with_renamed_keys(config["data"])
    return meta


def with_renamed_keys(data: dict) -> None:
    """A data config stored before ``data.cache`` and ``data.scan_cache`` were renamed (``cli.RENAMED_KEYS``),
    in today's keys, so that an older checkpoint still evaluates."""
    if "cache" in data:
        data["ram_cache"] = data.pop("cache") == "ram"
    if "scan_cache" in data:
        data["check_cache_dir"] = data.pop("scan_cache")


@functools.cache
def allowed_targets(config_dir: str = CONFIG_DIR) -> frozenset[str]:
    """Every ``_target_`` that a YAML file under ``config_dir`` names."""
    found = set()
    for file in Path(config_dir).rglob("*.yaml"):
        found.update(value for key, value in walk(yaml.safe_load(file.read_text())) if is_target(key))
    return frozenset(t for t in found if isinstance(t, str))


def is_target(key: str) -> bool:
    return key.rsplit(".", 1)[-1] == "_target_"


def walk(node, key: str = "") -> Iterator[tuple[str, object]]:
    """(dotted key, value) of every leaf of a nested dict/list; list items as ``key.0``, ``key.1``."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else None
    if items is None:
        yield key, node
        return
    for k, v in items:
        yield from walk(v, f"{key}.{k}" if key else str(k))


def check_config(config: dict, source: str | Path) -> None:
    """Refuse a stored config that names a target no config file names, or holds an interpolation."""
    allowed = allowed_targets()
    for key, value in walk(config):
        if is_target(key) and value not in allowed:
            raise CheckpointError(
                f"{source}: refused: its stored config names {key}={value!r}, which no config in {CONFIG_DIR} "
                "names; loading a checkpoint builds only the model and data classes the configs name")
        if isinstance(value, str) and "${" in value:
            raise CheckpointError(f"{source}: refused: its stored config holds an interpolation at {key} "
                                  f"({value[:80]!r}); a stored config is saved resolved")
        module = unimported_activation_module(key, value)
        if module:
            raise CheckpointError(f"{source}: refused: its stored config names the activation {key}={value!r}, "
                                  f"from {module}, which is not imported; import it first (as the training run did)")


def unimported_activation_module(key: str, value) -> str | None:
    """The module an activation given as a dotted class path would import, when it is not imported yet."""
    if not (key.rsplit(".", 1)[-1].endswith("activation") and isinstance(value, str)):
        return None
    module = value.partition(":")[0].strip().rpartition(".")[0]
    return module if module and module not in sys.modules else None


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
