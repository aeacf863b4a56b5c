"""Model bundles: a directory holding ``model.safetensors`` + ``model.json``, loaded without pickle.

The JSON card says how to rebuild the network (arch, number of classes, how many ensemble
members at which temperature) and how to prepare an image (``ImageSettings``, face settings), so
loading runs only facexp's own code plus safetensors' tensor reader. A fastai ``learner.pkl`` may
sit beside it for continued training; unpickling can run arbitrary code, so it is only read when
the caller says it trusts the file.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from ._plural import counted
from .card import check_weights, validate_card
from .errors import ModelError
from .preprocess import ImageSettings

if TYPE_CHECKING:  # torch is imported where a network is built: predicting on a cached ONNX graph never needs it
    import torch
    from torch import nn

BUNDLE_FORMAT = "facexp-bundle/1"
WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "model.json"
PICKLE_FILE = "learner.pkl"
WEIGHT_DTYPES = ("float32", "float16", "int8")
INT8_SCALE = ".int8_scale"  # key suffix of an int8 tensor's per-channel scales
INT8_MIN_VALUES = 8192  # smaller tensors stay float16: few bytes, and rounding the early layers hurts most
_LAZY_LOCK = threading.RLock()


def library_versions() -> dict[str, str]:
    """Versions that matter for reproducing or loading a model."""
    out = {"python": platform.python_version()}
    for pkg in ("facexp", "torch", "torchvision", "fastai", "timm", "onnxruntime"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


@dataclass
class ModelBundle:
    """A loaded model ready for inference: the network in eval mode plus its card.

    ``load_bundle(..., lazy=True)`` leaves ``model`` unbuilt (``model=None`` plus a ``loader``): the
    PyTorch network is built and its weights read on first access to ``.model``, so a Predictor
    running the cached ONNX graph never builds it (nor imports timm).
    """

    path: Path
    model: nn.Module | None
    classes: list[str]
    image: ImageSettings
    card: dict = field(default_factory=dict)
    loader: Callable[[], nn.Module] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        if self.model is None and self.loader is not None:
            del self.model  # so that reading it goes through __getattr__, which builds it once

    def __getattr__(self, name: str):
        if name != "model" or self.__dict__.get("loader") is None:
            raise AttributeError(name)
        with _LAZY_LOCK:
            if "model" not in self.__dict__:
                self.__dict__["model"] = self.loader()
        return self.__dict__["model"]

    @property
    def name(self) -> str:
        """What answers and logs call the model: the card's ``name`` (the run ``facexp train`` made it
        in), else the directory's, or the run's for a ``RUN/model`` directory of an older card."""
        if self.card.get("name"):
            return str(self.card["name"])
        path = Path(self.path)
        path = path.parent if path.suffix else path  # learner.pkl
        return (path.parent if path.name == "model" else path).name or path.name

    @property
    def model_loaded(self) -> bool:
        """Whether the PyTorch network exists yet (False until first use for a lazy bundle)."""
        return self.__dict__.get("model") is not None

    @property
    def weights_path(self) -> Path:
        return Path(self.path) / WEIGHTS_FILE

    @property
    def arch(self) -> str:
        return self.card["arch"]

    @property
    def faces(self) -> dict | None:
        """Face-crop settings recorded at training time (None: trained on whole images)."""
        return self.card.get("faces")


def save_bundle(out_dir: str | os.PathLike, model: nn.Module, card: dict, *, dtype: str = "float32") -> Path:
    """Write weights and card; ``card`` must hold arch, classes and image settings.

    ``dtype`` trades file size for exactness: "float16" halves the file, which lets a two-network
    ensemble ship in the space of one network; "int8" stores the large conv and linear weights as
    8-bit integers with one float16 scale per output channel (other tensors float16), about a
    quarter of float32, which fits four. Loading widens everything back to float32.
    """
    from safetensors.torch import save_file

    from .ensemble import Ensemble

    missing = {"arch", "classes", "image"} - set(card)
    if missing:
        raise ModelError(f"model card lacks {sorted(missing)}")
    if dtype not in WEIGHT_DTYPES:
        raise ModelError(f"weights dtype {dtype!r} is not one of {', '.join(WEIGHT_DTYPES)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_file(_pack(model.state_dict(), dtype), str(out / WEIGHTS_FILE))
    structure = ({"members": len(model.members), "temperature": model.temperature} if isinstance(model, Ensemble)
                 else {})
    full = {"format": BUNDLE_FORMAT, "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "versions": library_versions(), **{k: v for k, v in card.items() if k not in ("members", "temperature")},
            "weights_dtype": dtype, **structure}
    write_card(out, full)
    return out


def _pack(state: dict[str, torch.Tensor], dtype: str) -> dict[str, torch.Tensor]:
    import torch

    out = {}
    for key, value in state.items():
        value = value.detach().cpu()
        if not value.is_floating_point() or dtype == "float32":
            out[key] = value.contiguous()
        elif dtype == "int8" and value.dim() > 1 and value.numel() >= INT8_MIN_VALUES:
            per_channel = value.abs().amax(dim=tuple(range(1, value.dim())), keepdim=True)
            scale = (per_channel.float() / 127).clamp_min(1e-6).half()  # never 0 in float16
            out[key] = (value / scale.float()).round().clamp(-127, 127).to(torch.int8).contiguous()
            out[key + INT8_SCALE] = scale.contiguous()
        else:
            out[key] = value.half().contiguous()
    return out


def _unpack(stored: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Float tensors as stored (load_state_dict widens float16); int8 ones times their scale."""
    return {key: value.float() * stored[key + INT8_SCALE] if key + INT8_SCALE in stored else value
            for key, value in stored.items() if not key.endswith(INT8_SCALE)}


def read_card(path: str | os.PathLike) -> dict:
    """The JSON card of a bundle directory, with a clear error when it is not one."""
    card_path = Path(path) / CARD_FILE
    if not card_path.exists():
        raise ModelError(f"{path}: not a facexp model directory (no {CARD_FILE}); pass the folder `facexp train` wrote")
    try:
        card = json.loads(card_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{card_path}: broken JSON ({exc})") from None
    except OSError as exc:
        raise ModelError(f"{card_path}: cannot read ({exc.strerror or exc})") from None
    if isinstance(card, dict) and card.get("format") != BUNDLE_FORMAT:
        raise ModelError(f"{card_path}: format {card.get('format')!r} is not {BUNDLE_FORMAT!r}")
    return validate_card(card, card_path)  # every field typed and in range (facexp.card)


def write_card(path: str | os.PathLike, card: dict) -> None:
    """Write ``card`` as the bundle directory's JSON card (after ``save_bundle``: to add what was measured)."""
    (Path(path) / CARD_FILE).write_text(json.dumps(card, indent=2, default=str))


def load_bundle(path: str | os.PathLike, *, trust_pickle: bool = False, lazy: bool = False) -> ModelBundle:
    """Load a bundle directory (safe) or a fastai ``.pkl`` (only with ``trust_pickle``).

    The network is rebuilt by ``facexp.nets.build_network`` (PyTorch + timm, no fastai for the
    registered backbones). With ``lazy``, only the card is read now; the network is built on first
    access to ``.model`` (and a weights mismatch raises then).

    Raises:
        ModelError: not a bundle, weights that do not fit the card, or an untrusted pickle.
    """
    path = Path(path)
    if path.suffix == ".pkl":
        return _load_pickle(path, trust_pickle)
    card = read_card(path)
    weights = path / WEIGHTS_FILE
    if not weights.exists():
        raise ModelError(f"{path}: {WEIGHTS_FILE} is missing")
    check_weights(weights, card)  # whole file, networks matching classes and members (header only)
    _warn_on_version_change(card, path)
    bundle = ModelBundle(path, None, list(card["classes"]), ImageSettings.from_dict(card["image"]), card,
                         loader=lambda: build_bundle_model(card, weights))
    if not lazy:
        bundle.model  # noqa: B018  (build now: errors surface at load time)
    return bundle


def build_bundle_model(card: dict, weights: str | os.PathLike) -> nn.Module:
    """The card's network (or ensemble) in eval mode with the weights file loaded strictly.

    Raises:
        ModelError: the weights do not fit the card's arch, classes and members.
    """
    from safetensors.torch import load_file

    from .ensemble import Ensemble
    from .nets import build_network

    nets = [build_network(card["arch"], len(card["classes"])) for _ in range(card.get("members", 1))]
    model = nets[0] if len(nets) == 1 else Ensemble(nets, card.get("temperature", 1.0))
    try:
        stored = load_file(str(weights))
    except Exception as exc:  # safetensors raises its own error type for damaged files
        raise ModelError(f"{weights}: not a readable safetensors file ({str(exc).splitlines()[0][:200]}); copy the "
                         "model again or retrain") from None
    try:
        model.load_state_dict(_unpack(stored), strict=True)
    except (RuntimeError, KeyError) as exc:
        raise ModelError(f"{weights}: weights do not fit arch {card['arch']!r} with {len(card['classes'])} "
                         f"classes and {counted(len(nets), 'member')} ({str(exc).splitlines()[0]})") from None
    return model.eval()


def _warn_on_version_change(card: dict, path: Path) -> None:
    saved = card.get("versions", {}).get("torch")
    now = library_versions().get("torch")
    if saved and now and saved.split(".")[:2] != now.split(".")[:2]:
        warnings.warn(f"{path} was saved with torch {saved}; this is torch {now}", stacklevel=3)


def _load_pickle(path: Path, trust_pickle: bool) -> ModelBundle:
    if not trust_pickle:
        raise ModelError(
            f"{path}: a .pkl is a Python pickle, and loading one can run any code inside it. Use the model "
            f"directory (model.safetensors + model.json) instead, or pass --trust-pickle if you made this file "
            "yourself or trust who did."
        )
    if not path.exists():
        raise ModelError(f"{path}: no such file")
    from fastai.learner import load_learner

    try:
        learn = load_learner(path, cpu=True)
    except Exception as exc:  # a damaged or foreign pickle fails in many ways
        raise ModelError(f"{path}: not a loadable fastai learner ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:200] if str(exc) else ''}); use the model directory instead") from None
    card = read_card(path.parent)
    return ModelBundle(path, learn.model.eval(), list(learn.dls.vocab), ImageSettings.from_dict(card["image"]), card)
