"""The model a checkpoint holds, rebuilt from its stored ``model`` section read as data.

A checkpoint is a file someone else wrote. Eval, predict and export read from its stored run config the
``model`` section alone (and the training image size): each component at its own key may name only its own
classes (the backbone at ``model.backbone``, ...), every argument must be one its class takes, of the type it
declares and within range, and an activation is a registered name or a ``torch.nn`` activation class. The
classes are called directly (a fork's class only from a module the command imported with ``imports=``,
:mod:`yololab.utils.imports`), never through ``hydra.utils.instantiate``, so nothing else the file names is ever
called. The detector is first built on the ``meta`` device (no memory) and its tensors compared with the state
dict's, so a config describing a larger model than the file holds is refused before anything is allocated.
Data, paths, caches and loggers never come from a checkpoint: the command line and the defaults give them.
"""

from __future__ import annotations

import collections.abc
import functools
import inspect
import math
import sys
import typing
from pathlib import Path

import torch
import typing_extensions

from yololab import activation_spec
from yololab.checkpoints import CheckpointError
from yololab.loss import DetectionLoss, TaskAlignedAssigner
from yololab.models.backbone import CSPDarknet
from yololab.models.detector import YOLODetector
from yololab.models.heads import HEADS, ConvHead, FCHead, MLPHead
from yololab.models.neck import PAN
from yololab.nn.activations import ActivationSpec
from yololab.utils.imports import is_fork_module, missing_import, module_of, user_imported
from yololab.utils.settings import check

MODULE_TARGET = "yololab.module.YOLODetectorModule"
# key in the stored model section -> the classes it may name; each is called with the validated arguments
COMPONENTS: dict[str, dict[str, type]] = {
    "backbone": {"yololab.models.backbone.CSPDarknet": CSPDarknet},
    "neck": {"yololab.models.neck.PAN": PAN},
    "head": {f"yololab.models.heads.{c.__name__}": c for c in (ConvHead, MLPHead, FCHead)},  # + HEADS
    "loss": {"yololab.loss.DetectionLoss": DetectionLoss},
    "loss.assigner": {"yololab.loss.TaskAlignedAssigner": TaskAlignedAssigner},
}
# arguments that are not read from the section: the detector gives them, or they are components of their own;
# the optimiser and the scheduler are training's (a loaded model is evaluated, never stepped)
SUPPLIED = {"backbone": {"in_channels"}, "neck": {"in_channels"}, "head": {"in_channels", "num_classes"},
            "loss": {"num_classes", "reg_max", "assigner"}, "loss.assigner": set(),
            "": {"backbone", "neck", "head", "loss", "class_names", "optimizer", "scheduler",
                 "init_from", "init_from_sha256", "freeze", "cache_features"}}  # training's: the weights hold the trunk
PARTIAL = {"backbone", "neck", "head", "loss"}  # stored as Hydra partials: the detector calls them
UNIONS = (typing.Union, type(int | None))
UNPACK = {typing_extensions.Unpack, getattr(typing, "Unpack", typing_extensions.Unpack)}  # typing's from 3.11
SEQUENCES = (tuple, collections.abc.Sequence)
# argument -> (lowest, highest): every model yololab trains lies inside; counts this large would take minutes
# to build even on the meta device, and sizes are bounded again by the state dict
LIMITS = {
    "depth_multiple": (0.01, 8), "width_multiple": (0.01, 8), "max_channels": (8, 8192), "reg_max": (1, 64),
    "width": (1, 1 << 16), "depth": (0, 32), "grid": (1, 64), "reduce": (1, 1 << 16), "dropout": (0, 1),
    "strides": (1, 1024), "topk": (1, 1000), "in_channels": (1, 4), "max_detections": (1, 100_000),
    "val_conf_threshold": (0, 1), "val_iou_threshold": (0, 1), "predict_conf_threshold": (0, 1),
}
MAX_IMG_SIZE = 4096
MAX_CLASSES = 10_000


def fail(path, key: str, why: str):
    raise CheckpointError(f"{path}: refused: its stored config has model.{key}: {why}")


def arguments(section: dict, key: str, classes: dict[str, type], path) -> tuple[type, dict]:
    """The class ``section`` names at ``key`` and its arguments, each checked against the class's signature;
    the keys in ``SUPPLIED[key]`` are left to the caller."""
    target = section.get("_target_")
    cls = classes.get(target) if isinstance(target, str) else None
    if cls is None and isinstance(target, str) and key:
        cls = imported_class(target, key, path)
    if cls is None:
        fail(path, f"{key}._target_={target!r}".lstrip("."), f"it may only name {', '.join(sorted(classes))}")
    hints = parameters(cls)
    kwargs = {}
    for name, value in section.items():
        if name == "_target_" or name in SUPPLIED[key] or (name == "_partial_" and value is (key in PARTIAL)):
            continue
        if name not in hints:
            fail(path, f"{key}.{name}".lstrip("."), f"{cls.__name__} takes no argument {name!r}")
        if hints[name] is None:
            fail(path, f"{key}.{name}".lstrip("."), f"{cls.__name__} does not annotate {name!r}: a checkpoint's "
                 "values are checked against the constructor's type annotations")
        kwargs[name] = checked(value, hints[name], f"{key}.{name}".lstrip("."), path)
    return cls, kwargs


def parameters(cls: type) -> dict[str, object]:
    """Every argument ``cls`` takes by keyword, with its type annotation (None: not annotated). A
    ``**common: Unpack[SomeTypedDict]`` gives the TypedDict's keys and types (a head's shared arguments,
    ``models.heads.HeadArgs``); any other ``*args`` or ``**kwargs`` gives nothing a checkpoint may set."""
    hints = typing.get_type_hints(cls.__init__)
    found: dict[str, object] = {}
    for name, param in inspect.signature(cls).parameters.items():
        if param.kind is param.VAR_KEYWORD and typing.get_origin(hints.get(name)) in UNPACK:
            (typed_dict,) = typing.get_args(hints[name])
            if typing_extensions.is_typeddict(typed_dict):
                found.update(typing.get_type_hints(typed_dict))
        elif param.kind not in (param.VAR_KEYWORD, param.VAR_POSITIONAL, param.POSITIONAL_ONLY):
            found[name] = hints.get(name)
    return found


def component_classes(key: str) -> dict[str, type]:
    """The classes ``model.<key>`` may name: yololab's, and for the head every registered one (``HEADS``)."""
    if key != "head":
        return COMPONENTS[key]
    return {**COMPONENTS[key], **{f"{c.__module__}.{c.__qualname__}": c for c in HEADS.values()}}


def imported_class(target: str, key: str, path) -> type | None:
    """The ``nn.Module`` class ``target`` names from a module this command imported through ``imports=`` (the
    user vouches for it); a fork's class from a module not imported is refused, naming the ``imports=`` to pass.
    Nothing is imported here."""
    module = module_of(target)
    if not is_fork_module(module):
        return None
    if not user_imported(module):
        fail(path, f"{key}._target_={target!r}", missing_import(target))
    found = getattr(sys.modules[module], target.rpartition(".")[2], None)
    return found if isinstance(found, type) and issubclass(found, torch.nn.Module) else None


def checked(value, hint, key: str, path):
    """``value`` if it has the type ``hint`` declares (a bool, a number, a short string, an activation, a few
    numbers, or None where allowed) and lies within ``LIMITS``; else the key is named."""
    options = set(typing.get_args(hint)) if typing.get_origin(hint) in UNIONS else {hint}
    if value is None and type(None) in options:
        return None
    if activation_spec.ActivationSpec in options:
        return activation(value, key, path)
    kind = next(iter(options - {type(None)}))
    numbers = [value] if kind in (int, float) else value if isinstance(value, list) and len(value) <= 8 else None
    if kind is bool or kind is str:
        ok = isinstance(value, kind) and (kind is bool or len(value) <= 64)
    elif kind in (int, float) or typing.get_origin(kind) in SEQUENCES:
        element = kind if kind in (int, float) else typing.get_args(kind)[0]
        ok = numbers is not None and all(is_number(v, element) for v in numbers)
    else:
        ok = False
    if not ok:
        fail(path, f"{key}={value!r}", f"expected {describe(hint)}")
    low, high = LIMITS.get(key.rsplit(".", 1)[-1], (-math.inf, math.inf))
    if numbers and not all(low <= v <= high for v in numbers):
        fail(path, f"{key}={value!r}", f"out of range [{low}, {high}]")
    return tuple(value) if typing.get_origin(kind) in SEQUENCES else value


def is_number(value, kind: type) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return isinstance(value, int) if kind is int else math.isfinite(value)


def describe(hint) -> str:
    options = typing.get_args(hint) if typing.get_origin(hint) in UNIONS else (hint,)
    return " or ".join("None" if o is type(None) else str(o) if typing.get_args(o) else o.__name__ for o in options)


def activation(value, key: str, path) -> str:
    """An activation spec: a registered name, or a class of ``torch.nn``'s activation module (imports nothing)."""
    if not isinstance(value, str):
        fail(path, f"{key}={value!r}", "an activation is a spec string such as 'relu' or 'leaky_relu:0.1'")
    try:
        spec = ActivationSpec.parse(value)
    except ValueError as err:
        fail(path, f"{key}={value!r}", str(err))
    if spec.is_path:
        module, _, name = spec.name.rpartition(".")
        found = getattr(sys.modules.get(module), name, None)
        if getattr(found, "__module__", None) == "torch.nn.modules.activation":
            return value
        if is_fork_module(module) and not user_imported(module):
            fail(path, f"{key}={value!r}", missing_import(spec.name))
        if not (user_imported(module) and isinstance(found, type) and issubclass(found, torch.nn.Module)):
            fail(path, f"{key}={value!r}", "a checkpoint may name a registered activation, a torch.nn activation "
                 "class, or a class of a module imported with imports=")
    return value


def component(model: dict, key: str, path) -> functools.partial:
    """The factory of the component at ``model.<key>`` (the loss with its assigner built)."""
    section = model
    for part in key.split("."):
        section = section.get(part) if isinstance(section, dict) else None
    if not isinstance(section, dict):
        fail(path, key, "missing, or not a component (a mapping with a _target_)")
    cls, kwargs = arguments(section, key, component_classes(key), path)
    if key == "loss" and section.get("assigner") is not None:
        kwargs["assigner"] = component(model, "loss.assigner", path)()
    return functools.partial(cls, **kwargs)


def model_arguments(model: dict, class_names, path) -> dict:
    """The arguments of ``YOLODetectorModule`` that a stored model section gives, every one checked."""
    from yololab.module import YOLODetectorModule

    if not (isinstance(class_names, list) and 0 < len(class_names) <= MAX_CLASSES
            and all(isinstance(n, str) for n in class_names)):
        raise CheckpointError(f"{path}: refused: its class_names are not a list of 1 to {MAX_CLASSES} names")
    _, scalars = arguments(model, "", {MODULE_TARGET: YOLODetectorModule}, path)
    factories = {key: component(model, key, path) for key in ("backbone", "neck", "head", "loss")}
    return {**scalars, **factories, "class_names": list(class_names), "optimizer": None}


def check_shapes(kwargs: dict, state_dict: dict, path) -> None:
    """Build the detector on the meta device (no memory) and stop unless its tensors are the state dict's."""
    with torch.device("meta"):
        detector = YOLODetector(kwargs["backbone"], kwargs["neck"], kwargs["head"], len(kwargs["class_names"]),
                                kwargs.get("in_channels", 3), init="torch_default")
    ours = {f"model.{k}": tuple(v.shape) for k, v in detector.state_dict().items()}
    theirs = {k: tuple(v.shape) if isinstance(v, torch.Tensor) else None for k, v in state_dict.items()}
    reshaped = [k for k in ours if k in theirs and ours[k] != theirs[k]]  # in the model's order
    missing, extra = [k for k in ours if k not in theirs], [k for k in theirs if k not in ours]
    if not (reshaped or missing or extra):
        return
    shown = [f"{k} is {list(ours[k])} in that model, {theirs[k] and list(theirs[k])} in the file" for k in reshaped[:2]]
    shown += [f"{k} missing from the file" for k in missing[:2]] + [f"{k} unexpected" for k in extra[:2]]
    classes = f"; its class_names list {len(kwargs['class_names'])} classes" if any(".cls" in k for k in reshaped) \
        else ""
    raise CheckpointError(f"{path}: refused: its weights do not fit the model its stored config describes "
                          f"({len(reshaped)} tensor(s) of another shape, {len(missing)} missing, {len(extra)} "
                          f"unexpected: {'; '.join(shown)}){classes}")


def stored_img_size(config: dict, path: str | Path) -> int:
    """The image size the model was trained at (the default of eval, predict and export), checked."""
    size = (config.get("data") or {}).get("img_size") if isinstance(config.get("data"), dict) else None
    try:
        check("data.img_size", size)
    except ValueError as err:
        raise CheckpointError(f"{path}: refused: its stored config has {err}") from None
    if size > MAX_IMG_SIZE:
        raise CheckpointError(f"{path}: refused: its stored config has data.img_size={size}, above {MAX_IMG_SIZE}")
    return size
