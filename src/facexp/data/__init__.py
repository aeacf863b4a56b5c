"""Manifests, splits and fastai DataLoaders."""

from .loaders import LoadImage, make_dataloaders
from .manifest import Manifest, looks_grayscale, read_manifest, verify_images

__all__ = ["LoadImage", "Manifest", "looks_grayscale", "make_dataloaders", "read_manifest", "verify_images"]
