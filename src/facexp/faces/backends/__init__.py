"""Detector backends; importing this package registers them (``whole``, ``mtcnn``)."""

from . import mtcnn, whole

__all__ = ["mtcnn", "whole"]
