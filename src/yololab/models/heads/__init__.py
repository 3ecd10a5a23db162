"""Detection heads: ``conv`` (YOLOv8-style), ``mlp`` (per-location fully connected), ``fc`` (YOLOv1-style)."""

from yololab.models.heads.base import DetectionHead
from yololab.models.heads.conv import ConvHead
from yololab.models.heads.fc import FCHead
from yololab.models.heads.mlp import MLPHead

__all__ = ["ConvHead", "DetectionHead", "FCHead", "MLPHead"]
