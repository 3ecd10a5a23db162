"""A trunk (the backbone and the neck of a trained detector), loaded into a new model by ``model.init_from`` and
written to a small file of its own by ``scripts/export_trunk.py``.

``model.init_from`` takes a yololab checkpoint (its ``state_dict`` holds the EMA weights that validation used,
under ``model.``) or a trunk file (``state_dict``: the trunk's tensors under ``backbone.`` and ``neck.``;
``trunk``: where they came from). Both are read as every checkpoint is (:mod:`yololab.checkpoints`):
``weights_only=True``, and a checkpoint's stored config must pass the allowlist; loading executes nothing.
The file's sha256 names the features a run stands on: it is recorded as ``model.init_from_sha256`` in the run's
config (and so in ``runs.csv``), and a run given ``model.init_from_sha256`` refuses any other file.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import torch

from yololab.checkpoints import CheckpointError, read_checkpoint, stored_run
from yololab.models.detector import YOLODetector

TRUNK_PARTS = ("backbone", "neck")


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """The detector's tensors in a checkpoint or trunk file, keyed as in :class:`YOLODetector` (``neck.…``)."""
    ckpt = read_checkpoint(path)
    if "yololab" in ckpt:  # a training checkpoint: its stored config is checked as when it is evaluated
        stored_run(ckpt, path)
    return {key.removeprefix("model."): value for key, value in ckpt["state_dict"].items()
            if isinstance(value, torch.Tensor)}


def load_trunk(model: YOLODetector, path: str | Path, expected_sha256: str | None = None,
               parts: tuple[str, ...] = TRUNK_PARTS) -> str:
    """Load ``parts`` of ``model`` from ``path``, every tensor's shape checked first; returns the file's sha256."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model.init_from: file not found: {path}")
    digest = sha256_of(path)
    if expected_sha256 and digest != expected_sha256:
        raise CheckpointError(f"model.init_from={path}: its sha256 is {digest}, not model.init_from_sha256="
                              f"{expected_sha256}: this is not the trunk the run names")
    weights = read_weights(path)
    for part in parts:
        theirs = {k.removeprefix(f"{part}."): v for k, v in weights.items() if k.startswith(f"{part}.")}
        if not theirs:
            raise CheckpointError(f"model.init_from={path} holds no {part} (no key {part}.*): give a yololab "
                                  "checkpoint or a trunk file from scripts/export_trunk.py")
        module = getattr(model, part)
        check_shapes(module.state_dict(), theirs, part, path)
        module.load_state_dict(theirs)
    return digest


def check_shapes(ours: dict, theirs: dict, part: str, path: Path) -> None:
    """One message naming the first tensor that is missing, unexpected or of another shape, with both shapes."""

    def shape(tensor) -> str:
        return "absent" if tensor is None else str(list(tensor.shape))

    misfits = [f"{part}.{key}: {shape(theirs.get(key))} in the file, {shape(ours.get(key))} in this model"
               for key in [*ours, *(k for k in theirs if k not in ours)]
               if key not in theirs or key not in ours or theirs[key].shape != ours[key].shape]
    if misfits:
        raise CheckpointError(f"model.init_from={path} does not fit this model's {part} ({len(misfits)} "
                              f"tensor(s)): {misfits[0]}; is it another model/scale, model.in_channels or "
                              f"model.{part}?")


def trunk_file(ckpt_path: str | Path) -> tuple[bytes, dict]:
    """The bytes of the trunk file of a training checkpoint (the same bytes for the same checkpoint), and its
    description: the source file and its sha256, epoch and step, and the model and data settings it was trained
    with."""
    ckpt = read_checkpoint(ckpt_path)
    meta = stored_run(ckpt, ckpt_path)
    prefixes = tuple(f"model.{part}." for part in TRUNK_PARTS)
    state = {k.removeprefix("model."): v for k, v in ckpt["state_dict"].items() if k.startswith(prefixes)}
    missing = [part for part in TRUNK_PARTS if not any(k.startswith(f"{part}.") for k in state)]
    if missing:
        raise CheckpointError(f"{ckpt_path} holds no {missing[0]} weights (no key model.{missing[0]}.*)")
    config = meta["config"]
    info = {"source": Path(ckpt_path).name, "source_sha256": sha256_of(ckpt_path), "epoch": ckpt.get("epoch"),
            "global_step": ckpt.get("global_step"), "class_names": meta["class_names"],
            "model": {k: config["model"].get(k) for k in (*TRUNK_PARTS, "in_channels")},
            "data": {k: config["data"].get(k) for k in ("root", "train_split", "img_size")},
            "seed": config.get("seed")}
    buffer = io.BytesIO()
    torch.save({"state_dict": state, "trunk": info}, buffer)
    return buffer.getvalue(), info


def export_trunk(ckpt_path: str | Path, output: str | Path) -> tuple[Path, str]:
    """Write the trunk of ``ckpt_path`` to ``output``, a new file (an existing one is never overwritten);
    returns the file and its sha256."""
    data, _ = trunk_file(ckpt_path)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(output, "xb") as handle:
            handle.write(data)
    except FileExistsError:
        raise FileExistsError(f"{output} exists; choose another name (nothing is overwritten)") from None
    return output, hashlib.sha256(data).hexdigest()
