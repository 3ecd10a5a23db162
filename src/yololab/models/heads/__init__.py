"""Detection heads: ``conv`` (YOLOv8-style), ``mlp`` (per-location fully connected), ``fc`` (YOLOv1-style)."""

from yololab.models.heads.base import DetectionHead
from yololab.models.heads.conv import ConvHead

__all__ = ["ConvHead", "DetectionHead"]
