from yololab.loss.assigner import Assignment, TaskAlignedAssigner
from yololab.loss.detection_loss import DetectionLoss, LossParts

__all__ = ["Assignment", "DetectionLoss", "LossParts", "TaskAlignedAssigner"]
