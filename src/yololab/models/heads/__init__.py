"""Detection heads: ``conv`` (YOLOv8-style), ``mlp`` (per-location fully connected), ``fc`` (YOLOv1-style).

``HEADS`` names every head a checkpoint may hold; a fork adds its own with :func:`register_head` in a module
that its commands import (``imports=[myfork.heads]``, see :mod:`yololab.utils.imports`), and selects it with a
config file of its own (``configs/model/head/<name>.yaml`` whose ``_target_`` is the class).
"""

from yololab.models.heads.base import DetectionHead
from yololab.models.heads.conv import ConvHead
from yololab.models.heads.fc import FCHead
from yololab.models.heads.mlp import MLPHead

__all__ = ["HEADS", "ConvHead", "DetectionHead", "FCHead", "MLPHead", "register_head"]

HEADS: dict[str, type[DetectionHead]] = {"conv": ConvHead, "mlp": MLPHead, "fc": FCHead}


def register_head(name: str, cls: type[DetectionHead] | None = None):
    """Make ``cls`` a head a checkpoint may name (eval, predict and export rebuild it from its stored config, its
    constructor's annotated arguments checked like a built-in head's). Without ``cls``, a class decorator:
    ``@register_head("depthwise")``."""
    if cls is None:
        return lambda head: register_head(name, head)
    if not (isinstance(cls, type) and issubclass(cls, DetectionHead)):
        raise ValueError(f"register_head({name!r}): {cls!r} is not a DetectionHead subclass")
    if not (isinstance(name, str) and name.isidentifier()):
        raise ValueError(f"register_head({name!r}): a name is an identifier, such as 'depthwise'")
    if HEADS.get(name, cls) is not cls:
        raise ValueError(f"register_head({name!r}): '{name}' is already {HEADS[name].__qualname__}; pick another name")
    HEADS[name] = cls
    return cls
