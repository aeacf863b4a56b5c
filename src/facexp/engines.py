"""Inference engines: ONNX Runtime (the default) or PyTorch, behind one call ``engine(x) -> logits``.

The ONNX graph of a bundle is exported once and cached under ``cache_dir()``
(``$FACEXP_CACHE_DIR``, else ``$XDG_CACHE_HOME/facexp`` or ``~/.cache/facexp``), named by a hash
of the weights file and of the card entries that shape the network, so a changed model is
re-exported and the package directory is never written to (it may be read-only). A fresh export
is checked against PyTorch to ``TOLERANCE`` and written atomically (temporary file + rename), so
two processes starting at once cannot read half a file. When the cache is not writable, the graph
lives in memory for the process.

With a cached graph, neither the PyTorch network nor timm is built or imported; fastai never is
(the network is rebuilt by ``facexp.nets``). PyTorch stays the engine for training, Grad-CAM and
``engine="torch"``.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from .bundle import ModelBundle, load_bundle
from .errors import ConfigError, MissingExtraError, ModelError
from .int8 import int8_graph

log = logging.getLogger(__name__)

ENGINES = ("onnx", "onnx-fp32", "torch")
DEFAULT_ENGINE = "onnx"
ENGINE_ENV = "FACEXP_ENGINE"
CACHE_ENV = "FACEXP_CACHE_DIR"
ONNX_FILE = "model.onnx"
TOLERANCE = 1e-4
CHECK_BATCH = 5  # random images the exported graph is compared on
OPSET = 17
GRAPH_VERSION = 2  # bump when the exported graph changes for the same weights (cache keys change with it; 2: static_padding)
_HASH_CHUNK = 1 << 20


class Engine(Protocol):
    """Normalised images (N, 3, size, size) float32 → logits (N, n_classes) float32."""

    name: str

    def __call__(self, x: np.ndarray) -> np.ndarray: ...


def resolve_engine(engine: str | None) -> str:
    """``engine``, else ``$FACEXP_ENGINE``, else ``"onnx"``; an unknown name raises ConfigError."""
    name = (engine or os.environ.get(ENGINE_ENV) or DEFAULT_ENGINE).lower()
    if name not in ENGINES:
        raise ConfigError(f"the engine parameter must be one of {', '.join(ENGINES)}; got {name!r}")
    return name


def make_engine(bundle: ModelBundle, engine: str | None = None) -> Engine:
    """The engine that runs ``bundle``'s network: ONNX Runtime on its cached graph, or PyTorch.

    Raises:
        ConfigError: an unknown engine name.
        MissingExtraError: ``onnx`` asked for but onnxruntime is not installed.
    """
    name = resolve_engine(engine)
    if name == "torch":
        return TorchEngine(bundle)
    return OnnxEngine(bundle, int8=name == "onnx")


class TorchEngine:
    """The bundle's PyTorch network (one call at a time: PyTorch modules are not re-entrant-safe here)."""

    name = "torch"

    def __init__(self, bundle: ModelBundle):
        self.bundle = bundle
        self._lock = threading.Lock()
        bundle.model  # noqa: B018  (build it now, not on the first request)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        import torch

        with self._lock, torch.inference_mode():
            return self.bundle.model(torch.from_numpy(np.ascontiguousarray(x))).float().numpy()


class OnnxEngine:
    """ONNX Runtime on the bundle's cached graph (full graph optimisation): int8 where the model ships
    activation ranges and the CPU has int8 dot-product instructions (``facexp.int8``), else fp32.

    ``session.run`` is thread-safe, so concurrent requests need no lock. Intra-op threads follow
    ``$FACEXP_THREADS`` if set, else ``torch.get_num_threads()`` when torch is loaded (one knob for
    both engines), else ONNX Runtime's default (every core), and threads do not
    spin between calls: on a small shared CPU spinning steals time from face detection.
    """

    def __init__(self, bundle: ModelBundle, int8: bool = True):
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            raise MissingExtraError("the onnx engine needs onnxruntime: pip install onnxruntime, "
                                    "or pass --engine torch") from None
        self.bundle = bundle
        self.name = "onnx" if int8 else "onnx-fp32"
        key = graph_key(bundle)
        fp32 = onnx_graph(bundle, key)
        quantised = int8_graph(bundle, fp32, key) if int8 else None
        self.precision = "fp32" if quantised is None else "int8"
        self.graph = fp32 if quantised is None else quantised
        self.session = ort_session(self.graph)
        self._input = self.session.get_inputs()[0].name

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self._input: np.ascontiguousarray(x, dtype=np.float32)})[0]


def intra_op_threads() -> int:
    """Intra-op threads for facexp's ONNX Runtime sessions (see ``OnnxEngine``); 0: ONNX Runtime's default."""
    import sys

    if os.environ.get("FACEXP_THREADS", "").strip().isdigit():  # set by bulk prediction under a launcher
        return max(1, int(os.environ["FACEXP_THREADS"]))
    torch = sys.modules.get("torch")
    return max(1, torch.get_num_threads()) if torch is not None else 0  # 0: ONNX Runtime's default


# --- the graph cache ----------------------------------------------------------------------------


def cache_dir() -> Path:
    """Where exported graphs are kept: ``$FACEXP_CACHE_DIR``, else the user's cache dir + ``/facexp``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "facexp"


def graph_key(bundle: ModelBundle) -> str:
    """Hex digest naming ``bundle``'s graph: its weights plus what in the card shapes the network.

    A bundle loaded from a directory is keyed by its weights file; one built in memory (e.g. an
    ensemble assembled by a recipe) by its tensors, since its directory's file may hold others.
    """
    card = bundle.card or {}
    h = hashlib.sha256()
    shape = {"graph": GRAPH_VERSION, "opset": OPSET, "arch": card.get("arch"), "classes": bundle.classes,
             "members": card.get("members", 1), "temperature": card.get("temperature", 1.0),
             "size": bundle.image.size if bundle.image else None}
    h.update(json.dumps(shape, sort_keys=True, default=str).encode())
    weights = Path(bundle.path) / "model.safetensors" if bundle.path is not None else None
    if bundle.loader is not None and weights is not None and weights.is_file():
        with open(weights, "rb") as f:
            while chunk := f.read(_HASH_CHUNK):
                h.update(chunk)
    else:
        h.update(repr(getattr(bundle.model, "temperature", None)).encode())  # an attribute, not in the state_dict
        for key, value in bundle.model.state_dict().items():
            h.update(key.encode())
            h.update(value.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def onnx_graph(bundle: ModelBundle, key: str | None = None) -> Path | bytes:
    """The path of ``bundle``'s cached fp32 ONNX graph, exporting it first if needed (bytes if uncacheable);
    ``key``: its ``graph_key`` when already computed."""
    size = bundle.image.size
    return cached_graph(key or graph_key(bundle), lambda target: export_graph(bundle.model, target, size),
                        lambda graph: _check(bundle.model, graph, size, str(bundle.path)), str(bundle.path))


def cached_graph(key: str, export: Callable[[str | io.BytesIO], None], check: Callable[[str | bytes], None],
                 what: str) -> Path | bytes:
    """The cached graph named ``key``; made first by ``export`` and passed by ``check`` when missing.

    Returns the graph's path, or its bytes when the cache cannot be written.
    """
    folder = cache_dir() / "onnx"
    target = folder / f"{key[:32]}.onnx"
    if target.is_file():
        log.debug("onnx graph from cache: %s", target)
        return target
    log.info("exporting %s to ONNX (once; cached in %s)", what, folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{key[:12]}-", suffix=".onnx.tmp")
        os.close(fd)
    except OSError as exc:
        log.warning("cannot write the ONNX cache in %s (%s); keeping the graph in memory", folder, exc)
        buf = io.BytesIO()
        export(buf)
        data = buf.getvalue()
        check(data)
        return data
    try:
        export(tmp)
        check(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the graph holds nothing the weights file does not
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def ort_session(graph: str | os.PathLike | bytes, threads: int | None = None):
    """An ONNX Runtime CPU session on ``graph`` with facexp's thread settings (see ``OnnxEngine``), or ``threads``."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = intra_op_threads() if threads is None else threads
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    source = graph if isinstance(graph, bytes) else str(graph)
    return ort.InferenceSession(source, opts, providers=["CPUExecutionProvider"])


def _check(model, graph: str | os.PathLike | bytes, size: int, where: str = "the model") -> None:
    import torch

    diff = max_abs_difference(model, graph, torch.randn(CHECK_BATCH, 3, size, size,
                                                      generator=torch.Generator().manual_seed(0)))
    if not np.isfinite(diff):  # NaN compares false with everything: never a pass
        raise ModelError(f"{where}: the network gives non-finite outputs (NaN or inf); its weights are probably "
                         "damaged: copy the model again or retrain")
    if diff > TOLERANCE:
        raise ModelError(f"ONNX output differs from PyTorch by {diff:.2e} (> {TOLERANCE}); use --engine torch")


# --- export -------------------------------------------------------------------------------------


def export_graph(model, target: str | os.PathLike | io.BytesIO, size: int) -> None:
    """Write ``model`` as ONNX (input ``image``: N x 3 x size x size, normalised; output ``logits``), its
    TensorFlow-style padding made static for that size (``facexp.static_padding``)."""
    import torch

    from .static_padding import static_same_padding

    example = torch.zeros(2, 3, size, size)
    target = str(target) if isinstance(target, (str, os.PathLike)) else target
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "legacy TorchScript-based exporter" notes; parity is checked instead
        torch.onnx.export(static_same_padding(model.eval(), size), (example,), target, input_names=["image"],
                          output_names=["logits"], dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
                          opset_version=OPSET, dynamo=False)


def export_onnx(model_dir: str | os.PathLike, out: str | os.PathLike | None = None, *, check: bool = True,
                trust_pickle: bool = False, size: int | None = None) -> Path:
    """Write ``model.onnx`` (input ``image``: N x 3 x size x size, normalised; output ``logits``).

    The batch dimension is dynamic; ``size`` overrides the trained input size (for benchmarks of
    fully convolutional backbones). With ``check``, onnxruntime's output on a random batch must
    match PyTorch's to ``TOLERANCE`` or the file is removed and ModelError raised. The file's
    ``metadata_props`` carry what the card says about using it (``onnx_metadata``), so the .onnx
    alone serves a program in another language; ``read_onnx_metadata`` reads them back.
    """
    import torch

    bundle = load_bundle(model_dir, trust_pickle=trust_pickle)
    target = Path(out) if out is not None else Path(model_dir) / ONNX_FILE
    size = size or bundle.image.size
    export_graph(bundle.model, target, size)
    diff = None
    if check:
        diff = max_abs_difference(bundle.model, target, torch.randn(CHECK_BATCH, 3, size, size))
        if not np.isfinite(diff):  # NaN compares false with everything: never a pass
            target.unlink()
            raise ModelError(f"{model_dir}: the network gives non-finite outputs (NaN or inf); its weights are "
                             "probably damaged: copy the model again or retrain; not exported")
        if diff > TOLERANCE:
            target.unlink()
            raise ModelError(f"ONNX output differs from PyTorch by {diff:.2e} (> {TOLERANCE}); not exported")
    write_onnx_metadata(target, onnx_metadata(bundle, size=size, max_abs_diff=diff))
    return target


def onnx_metadata(bundle: ModelBundle, *, size: int, max_abs_diff: float | None) -> dict[str, str]:
    """The card's instructions for using the graph, as ONNX ``metadata_props`` (strings; lists and
    settings as JSON): classes in output order, input size, colour mode, mean/std, face settings."""
    from . import __version__

    image = bundle.image
    faces = bundle.faces
    if faces is not None:
        from .faces import FaceSettings

        faces = FaceSettings.from_dict(faces).to_dict()  # defaults written out: no facexp needed to read them
    levelled = ", eyes levelled" if faces is not None and faces["align"] else ""
    source = (f"each face, found and cropped as 'faces' says ({faces['detector']}{levelled})" if faces is not None
              else "the whole image (no face detection)")
    colour = "converted to gray and repeated on 3 channels" if image.grayscale else "RGB"
    meta = {
        "classes": json.dumps(list(bundle.classes)),
        "input_size": str(size),
        "colour_mode": "gray" if image.grayscale else "rgb",
        "mean": json.dumps(list(image.mean)),
        "std": json.dumps(list(image.std)),
        "preprocessing": f"{source}; {colour}; resized to {size}x{size} (bilinear, aspect not kept); "
                         "pixel / 255; minus mean, divided by std, per channel; NCHW float32 as input 'image'",
        "output": "'logits': one row per image, one column per class in the order of 'classes'; "
                  "softmax gives the probabilities",
        "faces": json.dumps(faces),
        "facexp_version": __version__,
    }
    if max_abs_diff is not None:
        meta["check_max_abs_diff"] = f"{max_abs_diff:.3g}"
    return meta


def write_onnx_metadata(path: Path, meta: dict[str, str]) -> None:
    import onnx

    graph = onnx.load(str(path))
    del graph.metadata_props[:]
    for key, value in meta.items():
        entry = graph.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(graph, str(path))


def read_onnx_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX file, as written by ``export_onnx`` (read with ONNX Runtime,
    as a program using the file would)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return dict(session.get_modelmeta().custom_metadata_map)


def max_abs_difference(model, onnx_path: str | os.PathLike | bytes, x) -> float:
    """Largest absolute logit difference between PyTorch and onnxruntime on ``x``."""
    import onnxruntime as ort
    import torch

    source = onnx_path if isinstance(onnx_path, bytes) else str(onnx_path)
    session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    with torch.inference_mode():
        expected = model.eval()(x).numpy()
    got = session.run(["logits"], {"image": x.numpy()})[0]
    return float(np.abs(expected - got).max())
