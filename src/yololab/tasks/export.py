"""ONNX export of a detector: its raw head maps, with a dynamic batch axis.

The exported graph is ``YOLODetector.forward`` exactly: input ``images`` float32 [B, in_channels, S, S]
(RGB in [0, 1], letterboxed to S with padding value 114 at the bottom and right), outputs ``map0`` ...
one per pyramid level, [B, 4 * reg_max + num_classes, S / stride, S / stride]. Decoding and NMS stay
outside the graph (``models.postprocess``), as in PyTorch. Uses the torch.export-based exporter
(``dynamo=True``, needs onnxscript): it keeps BatchNorm as its own node, so onnxruntime reproduces
PyTorch's raw maps to about 1e-6 of their largest magnitude (the TorchScript exporter folds BatchNorm
into the convolutions and is about ten times less exact).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import io
import json
import logging
import re
import warnings
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig
from torch import nn

from yololab.data.records import DataError, DataProblem
from yololab.data.synthetic import render_image
from yololab.inference import gather_inputs, letterbox_batch, read_images
from yololab.models.detector import YOLODetector
from yololab.models.summary import activation_specs
from yololab.module import YOLODetectorModule
from yololab.nn.activations import ActivationSpec
from yololab.utils.outputs import OutputError, check_new_output, make_folder, write_new

DEFAULT_OPSET = 18
log = logging.getLogger(__name__)


class ExportError(RuntimeError):
    """The model cannot be exported, or the export does not compute what PyTorch computes."""


@dataclass(frozen=True)
class Tolerance:
    """How closely onnxruntime must reproduce PyTorch. Raw maps: max |onnx - torch| <= atol + rtol * max |torch|
    (float32 rounding grows with the outputs' magnitude); detections after NMS: matched boxes within
    ``box_atol`` pixels, scores within ``score_atol``."""

    atol: float = 1e-5
    rtol: float = 1e-5
    box_atol: float = 1e-2
    score_atol: float = 1e-4


@contextlib.contextmanager
def _quiet():
    """The exporter prints progress, warns and logs at INFO; only errors matter here."""
    loggers = [logging.getLogger(name) for name in ("onnxscript", "onnx_ir", "torch.onnx")]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        for logger in loggers:
            logger.setLevel(logging.WARNING)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)


def require_exporter() -> None:
    """ONNX export and its check need three optional packages; say which are missing, and how to get them."""
    missing = [name for name in ("onnx", "onnxscript", "onnxruntime") if importlib.util.find_spec(name) is None]
    if missing:
        raise ImportError(f"ONNX export needs {', '.join(missing)}: pip install -e '.[export]'")


def to_onnx(model: nn.Module, example: torch.Tensor, opset: int = DEFAULT_OPSET, output_names=None):
    """The ``torch.onnx.ONNXProgram`` of ``model`` (in eval mode) with a dynamic batch axis."""
    model.eval()
    batch = torch.export.Dim("batch", min=1, max=4096)
    with _quiet():
        return torch.onnx.export(model, (example,), dynamo=True, dynamic_shapes=({0: batch},), opset_version=opset,
                                 input_names=["images"], output_names=output_names, verbose=False, report=False)


def onnx_session(model: str | Path | bytes):
    """An onnxruntime CPU session for a file or serialised model."""
    import onnxruntime as ort

    source = str(model) if isinstance(model, Path) else model
    return ort.InferenceSession(source, providers=["CPUExecutionProvider"])


def run_onnx(session, images: torch.Tensor) -> list[torch.Tensor]:
    outputs = session.run(None, {session.get_inputs()[0].name: images.cpu().numpy()})
    return [torch.from_numpy(o) for o in outputs]


def root_cause(err: BaseException) -> str:
    """The first line of the innermost cause: what the exporter could not do, without its advice."""
    while err.__cause__ is not None:
        err = err.__cause__
    lines = re.sub(r"\x1b\[[0-9;]*m", "", str(err)).strip().splitlines()
    return f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__


def check_activation(spec: str | ActivationSpec, opset: int = DEFAULT_OPSET, atol: float = 1e-5) -> None:
    """Export a conv followed by the activation ``spec`` and compare onnxruntime with PyTorch; an
    :class:`ExportError` naming ``spec`` if either fails. Each (spec, opset) is checked once per process."""
    _check_activation(ActivationSpec.parse(spec), opset, atol)


@functools.cache
def _check_activation(spec: ActivationSpec, opset: int, atol: float) -> None:
    with torch.random.fork_rng(devices=[]):  # leaves the caller's random state alone
        torch.manual_seed(0)
        probe = nn.Sequential(nn.Conv2d(3, 4, 1), spec.build(4)).eval()
        x = torch.randn(2, 3, 8, 8) * 3
    try:
        session = onnx_session(to_onnx(probe, x, opset).model_proto.SerializeToString())
        got = run_onnx(session, x)[0]
    except Exception as err:  # the exporter raises many types; the message is what matters
        raise ExportError(f"activation {str(spec)!r} cannot be exported to ONNX (opset {opset}): "
                          f"{root_cause(err)}") from err
    with torch.no_grad():
        diff = (got - probe(x)).abs().max().item()
    if diff > atol:
        raise ExportError(f"activation {str(spec)!r} exports to ONNX but computes something else "
                          f"(max abs diff {diff:.2g} > {atol:g})")


def check_activations(model: nn.Module, opset: int = DEFAULT_OPSET) -> list[str]:
    """Every activation spec the model uses, each checked by :func:`check_activation`."""
    specs = activation_specs(model)
    for spec in specs.values():
        check_activation(spec, opset)
    return list(specs)


def export_onnx(model: YOLODetector, path: str | Path, img_size: int, opset: int = DEFAULT_OPSET,
                metadata: dict | None = None) -> Path:
    """Write ``model`` (eval mode, its weights as they are) to ``path`` as one self-contained ONNX file.

    Each activation is exported alone first (:func:`check_activation`), so an unsupported one fails
    with its spec named. ``metadata`` entries are stored as JSON strings in the model's metadata_props.
    """
    if img_size <= 0 or img_size % 32:
        raise ValueError(f"img_size must be a positive multiple of 32, got {img_size}")
    require_exporter()
    check_activations(model, opset)
    example = torch.rand(2, model.in_channels, img_size, img_size, device=next(model.parameters()).device)
    with torch.no_grad():
        levels = len(model.eval()(example))
    try:
        program = to_onnx(model, example, opset, [f"map{i}" for i in range(levels)])
    except Exception as err:  # the exporter raises many types; the message is what matters
        raise ExportError(f"ONNX export of {type(model).__name__} failed: {root_cause(err)}") from err
    for key, value in (metadata or {}).items():
        program.model.metadata_props[key] = json.dumps(value)
    path = Path(path)
    check_new_output(path, path.parent, "output")
    make_folder(path.parent, "output")
    program.save(path, external_data=False)
    return path


def read_metadata(path: str | Path) -> dict:
    """The metadata stored by :func:`export_onnx`."""
    session = onnx_session(Path(path))
    return {k: json.loads(v) for k, v in session.get_modelmeta().custom_metadata_map.items()}


def compare_maps(reference: list[torch.Tensor], other: list[torch.Tensor], tol: Tolerance) -> dict:
    """Max abs difference of the raw maps and what ``tol`` allows; an :class:`ExportError` beyond it."""
    if [r.shape for r in reference] != [o.shape for o in other]:
        raise ExportError(f"output shapes differ: {[tuple(r.shape) for r in reference]} (PyTorch) vs "
                          f"{[tuple(o.shape) for o in other]} (ONNX)")
    diff = max((r - o).abs().max().item() for r, o in zip(reference, other, strict=True))
    scale = max(r.abs().max().item() for r in reference)
    allowed = tol.atol + tol.rtol * scale
    if diff > allowed:
        raise ExportError(f"raw head maps differ from PyTorch by up to {diff:.3g}, more than the {allowed:.3g} "
                          f"allowed ({tol.atol:g} + {tol.rtol:g} x max |output| {scale:.3g})")
    return {"max_abs_diff": diff, "max_abs_output": scale, "allowed": allowed}


def match_detections(reference: list[dict], other: list[dict], tol: Tolerance) -> dict:
    """Per image, the same number of detections, each with a counterpart of its class whose box and score
    agree within ``tol``; the worst differences found, or an :class:`ExportError`."""
    worst_box = worst_score = 0.0
    count = 0
    for i, (ref, got) in enumerate(zip(reference, other, strict=True)):
        if len(ref["labels"]) != len(got["labels"]):
            raise ExportError(f"image {i}: {len(ref['labels'])} detections with PyTorch, {len(got['labels'])} "
                              "with ONNX")
        if not len(ref["labels"]):
            continue
        dist = torch.cdist(ref["boxes"].double(), got["boxes"].double(), p=float("inf"))
        dist[ref["labels"][:, None] != got["labels"][None]] = float("inf")
        best, nearest = dist.min(1)
        worst_box = max(worst_box, best.max().item())
        worst_score = max(worst_score, (ref["scores"] - got["scores"][nearest]).abs().max().item())
        count += len(ref["labels"])
    if worst_box > tol.box_atol or worst_score > tol.score_atol:
        raise ExportError(f"detections differ: max box diff {worst_box:.3g} px (tolerance {tol.box_atol:g}), "
                          f"max score diff {worst_score:.3g} (tolerance {tol.score_atol:g})")
    return {"detections": count, "box_max_abs_diff": worst_box, "score_max_abs_diff": worst_score}


@torch.no_grad()
def verify_onnx(module, path: str | Path, batch: dict, conf: float | None, tol: Tolerance = Tolerance()) -> dict:
    """Run the ONNX file with onnxruntime (CPU) and ``module.model`` on ``batch`` (from
    ``inference.letterbox_batch``) and compare: the raw maps, then (unless ``conf`` is None) the detections
    after NMS at confidence ``conf`` (``module.detections``). A report of the differences."""
    batch = {k: v.to(next(module.parameters()).device) for k, v in batch.items()}
    reference = module.model.eval()(batch["images"])
    got = [m.to(batch["images"].device) for m in run_onnx(onnx_session(Path(path)), batch["images"])]
    report = {"batch_size": len(batch["images"]), **compare_maps(reference, got, tol)}
    if conf is not None:
        dets = [module.detections(maps, batch, conf) for maps in (reference, got)]
        report.update(match_detections(*dets, tol))
    return report


def verification_images(spec: str | None, img_size: int, count: int) -> tuple[list[np.ndarray], str]:
    """Up to ``count`` RGB images and where they came from: ``spec`` (an image, folder or glob), else synthetic
    images (a folder the checkpoint names is never read: its stored paths are someone else's)."""
    if not spec:
        return [np.repeat(render_image(0, "val", i, img_size)[0][..., None], 3, axis=2) for i in range(count)], \
            "synthetic"
    loaded, problems = read_images(gather_inputs(spec)[:count])
    if problems:
        log.warning("skipped unreadable file(s): %s", "; ".join(map(str, problems)))
    if not loaded:
        raise DataError([*problems, DataProblem(str(spec), "no readable image to verify the export on", fatal=True)])
    return [image for _, image in loaded], str(spec)


def check_outputs(cfg: DictConfig) -> tuple[Path, Path]:
    """(the ONNX file, its verification report beside it): new files, neither the checkpoint nor any other
    existing file; checked before anything is computed."""
    output = Path(cfg.output)
    if output.resolve() == Path(cfg.ckpt_path).resolve():
        raise OutputError(f"output={cfg.output} is the checkpoint ckpt_path={cfg.ckpt_path}; export never writes "
                          "over its input: give another output, e.g. output=model.onnx")
    report_file = output.with_suffix(".verification.json")
    for path in (output, report_file):
        check_new_output(path, output.parent, "output")
    make_folder(output.parent, "output")
    return output, report_file


def run(cfg: DictConfig) -> dict:
    """Export ``cfg.ckpt_path`` to ``cfg.output`` and verify it; returns the file and the verification."""
    if not cfg.get("ckpt_path"):
        raise ValueError("ckpt_path is required: python scripts/export.py ckpt_path=path/to/last.ckpt format=onnx")
    if cfg.format != "onnx":
        raise ValueError(f"format={cfg.format!r} is not supported; valid: onnx")
    output, report_file = check_outputs(cfg)
    module = YOLODetectorModule.from_checkpoint(cfg.ckpt_path)
    stored = module.config
    img_size = int(cfg.img_size or stored["data"]["img_size"])
    metadata = {"class_names": module.class_names, "img_size": img_size, "in_channels": module.model.in_channels,
                "reg_max": module.model.reg_max, "conf_threshold": module.predict_conf_threshold,
                "iou_threshold": module.val_iou_threshold, "checkpoint": str(cfg.ckpt_path)}
    path = export_onnx(module.model, output, img_size, cfg.opset, metadata)
    v = cfg.verify
    tol = Tolerance(**{f.name: float(v[f.name]) for f in fields(Tolerance)})
    images, source = verification_images(v.images, img_size, v.num_images)
    batch = letterbox_batch(images, img_size, module.model.in_channels)
    conf = module.predict_conf_threshold if v.conf is None else v.conf
    try:  # the whole batch, then one image: the batch axis is dynamic
        checks = [verify_onnx(module, path, b, conf, tol) for b in (batch, {k: t[:1] for k, t in batch.items()})]
    except ExportError as err:
        raise ExportError(f"{path} was written but does not compute what PyTorch computes: {err}") from err
    report = {"onnx": str(path), "exporter": f"torch.onnx.export(dynamo=True), opset {cfg.opset}",
              "images": source, "conf": conf, "tolerance": asdict(tol), "checks": checks}
    write_new(report_file, json.dumps(report, indent=2).encode(), "output")
    log.info("wrote %s; onnxruntime matches PyTorch on %d image(s) from %s: raw maps max abs diff %.2g (allowed "
             "%.2g), the same %d detection(s) after NMS", path, len(images), source,
             max(c["max_abs_diff"] for c in checks), checks[0]["allowed"], checks[0]["detections"])
    return report
