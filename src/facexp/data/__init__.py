"""Manifests, splits and fastai DataLoaders."""

from .loaders import LoadImage, SoftTarget, has_soft_targets, make_dataloaders
from .manifest import Manifest, looks_grayscale, read_manifest, verify_images

__all__ = ["LoadImage", "Manifest", "SoftTarget", "has_soft_targets", "looks_grayscale", "make_dataloaders",
           "read_manifest", "verify_images"]
