"""fastai DataBlock and DataLoaders built from a Manifest.

Images are read with facexp's own reader (EXIF rotation, any PIL mode) inside a picklable
Transform, so a fastai ``.pkl`` export stays loadable and training sees photos exactly as
prediction does (see ``facexp.preprocess``).

A soft-label manifest's targets are float probability vectors (``SoftTarget``), not category
indices; ``dls.vocab`` is still the class list, in the manifest's column order.
"""

from __future__ import annotations

import pandas as pd
import torch
from fastai.vision.all import (
    CategoryBlock,
    ColReader,
    ColSplitter,
    DataBlock,
    IntToFloatTensor,
    Normalize,
    PILImage,
    RandomSplitter,
    Resize,
    ResizeMethod,
    Transform,
    TransformBlock,
    aug_transforms,
)

from .._plural import counted
from ..errors import ConfigError, DataError
from ..imageio import open_image
from ..preprocess import ImageSettings
from .manifest import Manifest


class LoadImage(Transform):
    """Path → PILImage in the colour mode the model trains on."""

    def __init__(self, grayscale: bool = False):
        self.grayscale = grayscale

    def encodes(self, path: str) -> PILImage:
        img = open_image(path)
        return PILImage.create(img.convert("L").convert("RGB") if self.grayscale else img)


class SoftTarget(Transform):
    """A row's class probabilities (a list of floats) → float tensor; carries the ``vocab``."""

    def __init__(self, vocab: list[str]):
        self.vocab = list(vocab)
        self.c = len(self.vocab)

    def encodes(self, probs) -> torch.Tensor:
        return torch.tensor(list(probs), dtype=torch.float32)


def has_soft_targets(dls) -> bool:
    """True when ``dls`` came from a soft-label manifest (targets are probability vectors)."""
    return any(isinstance(t, SoftTarget) for t in dls.train_ds.tls[-1].tfms.fs)


def _splitter(manifest: Manifest, valid_pct: float, seed: int):
    items = manifest.items
    if "split" in items.columns and (items["split"] == "valid").any():
        return ColSplitter("is_valid")
    if not 0 < valid_pct < 1:
        raise ConfigError(f"--valid-pct must be between 0 and 1; got {valid_pct}")
    return RandomSplitter(valid_pct=valid_pct, seed=seed)


def make_dataloaders(
    manifest: Manifest,
    settings: ImageSettings,
    *,
    valid_pct: float = 0.2,
    seed: int = 42,
    bs: int = 64,
    augment: bool = True,
    classes: list[str] | None = None,
    balance_sampler: bool = False,
):
    """DataLoaders over the manifest's train/valid rows (rows marked ``test`` are left out).

    A ``split`` column with ``valid`` rows decides the split; otherwise ``valid_pct`` of the rows
    are held out at random with ``seed``. ``balance_sampler`` draws training batches with
    inverse class frequency (fastai's WeightedDL), an alternative to a weighted loss; with soft
    labels the frequency is that of each row's majority class.
    """
    if manifest.soft and classes:
        manifest = manifest.subset(classes)  # soft labels: keep those columns, renormalised
    items = manifest.items
    if "split" in items.columns:
        items = items[items["split"] != "test"].copy()
        items["is_valid"] = items["split"] == "valid"
    items = items.reset_index(drop=True)
    if len(items) < 2:
        raise DataError(f"{manifest.root}: only {counted(len(items), 'training image')}; need at least 2")
    if manifest.soft:
        vocab = manifest.classes
        target_block, get_y = TransformBlock(type_tfms=SoftTarget(vocab)), ColReader(vocab)
    else:
        vocab = classes or sorted(items["label"].unique())
        target_block, get_y = CategoryBlock(vocab=vocab), ColReader("label")
    batch_tfms = [*aug_transforms(max_rotate=10.0, max_zoom=1.1, max_warp=0.1, p_lighting=0.75)] if augment else []
    batch_tfms.append(Normalize.from_stats(list(settings.mean), list(settings.std)))
    block = DataBlock(
        blocks=(TransformBlock(type_tfms=LoadImage(settings.grayscale), batch_tfms=IntToFloatTensor),
                target_block),
        get_x=ColReader("path"),
        get_y=get_y,
        splitter=_splitter(manifest, valid_pct, seed),
        item_tfms=Resize(settings.size, method=ResizeMethod.Squish),
        batch_tfms=batch_tfms,
    )
    frame = pd.DataFrame(items)
    bs = min(bs, max(1, len(frame) // 2))
    if balance_sampler:
        import fastai.callback.data  # noqa: F401  (adds Datasets.weighted_dataloaders)

        datasets = block.datasets(frame)
        labels = datasets.train.items["label"]
        wgts = (1.0 / labels.map(labels.value_counts())).to_numpy()
        dls = datasets.weighted_dataloaders(wgts, bs=bs, num_workers=0, path=manifest.root,
                                            after_item=block.item_tfms, after_batch=block.batch_tfms)
    else:
        dls = block.dataloaders(frame, bs=bs, num_workers=0, path=manifest.root)
    if len(dls.valid_ds) == 0:
        raise DataError(f"{manifest.root}: the validation split is empty; add images or raise --valid-pct")
    return dls
