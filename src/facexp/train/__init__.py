"""Training with fastai's vision_learner, backbones from the registry, export to ONNX."""

from .config import TrainConfig
from .export import export_onnx
from .fit import TrainResult, class_weights, make_learner, train

__all__ = ["TrainConfig", "TrainResult", "class_weights", "export_onnx", "make_learner", "train"]
