"""Evaluation: confusion matrix, per-class metrics, top losses, calibration, HTML report."""

from .gradcam import gradcam, overlay
from .metrics import EvalReport, fold_classes, restrict_classes
from .report import write_report
from .run import evaluate, predict_manifest

__all__ = ["EvalReport", "evaluate", "fold_classes", "gradcam", "overlay", "predict_manifest", "restrict_classes", "write_report"]
