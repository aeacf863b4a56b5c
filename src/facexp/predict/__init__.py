"""Prediction: the Predictor (photo → faces → expressions), ``predict`` (files, folders, globs) and drawing of results."""

from .default import default_model_dir
from .predictor import Predictor, expand_inputs, named_inputs
from .run import predict

__all__ = ["Predictor", "default_model_dir", "expand_inputs", "named_inputs", "predict"]
