"""int8 inference for models that ship activation ranges: 1.65x the fp32 graph's crops/s (bench_engines.py).

A static int8 graph needs the range of every activation, measured on real inputs. Those are measured
once, on training crops, by ``recipes/calibrate_int8.py`` and shipped beside the weights as ONNX
Runtime's calibration cache (``int8_ranges.json``, 20 kB for the shipped model, named by the tensors of the
exported fp32 graph); the int8 graph is then built from the cached fp32 graph at first use and cached
like it. Shipping ranges instead of a second graph keeps one source of weights (the safetensors file)
and the package small. If the exported graph's tensors are not the ones the ranges name (another
exporter version), the fp32 graph runs, with a warning.

Only on CPUs with int8 dot-product instructions (VNNI on x86-64, dotprod on ARM): without them ONNX
Runtime's u8 x s8 kernels add pairs of products in 16 bits, which can saturate, so there the fp32
graph runs. The layers left in float (``float_layers``: the first convolution and the head's matrix
products) are the ones whose quantisation cost accuracy on the validation split.

``calibrate_bundle`` does it all for a saved bundle, and keeps the ranges only if the int8 graph is as
accurate as fp32 on validation images: ``facexp train`` calls it on every model it writes, and
``recipes/calibrate_int8.py`` on the shipped one.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import logging
import os
import platform
import tempfile
from pathlib import Path

import numpy as np

from .bundle import ModelBundle
from .errors import ConfigError, ModelError
from .probs import softmax

log = logging.getLogger(__name__)

RANGES_FILE = "int8_ranges.json"
CHECK_TOLERANCE = 0.1  # largest difference of a probability between the int8 and fp32 graphs at export
INT8_VERSION = 1  # bump when the int8 graphs change for the same fp32 graph and ranges (cache keys change)


@functools.lru_cache(maxsize=1)
def dot_product_cpu() -> bool:
    """This CPU has int8 dot-product instructions that ONNX Runtime's int8 kernels use without saturating."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return False
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64"):
        return bool(flags & {"avx512_vnni", "avx_vnni"})
    if machine in ("aarch64", "arm64"):
        return "asimddp" in flags
    return False


@functools.lru_cache(maxsize=1)
def ranges_readable() -> bool:
    """This ONNX Runtime reads and writes calibration caches (``quantize_static``'s ``calibration_cache_path``,
    added in 2026); with an older one the fp32 graph runs."""
    import inspect

    from onnxruntime.quantization import quantize_static

    return "calibration_cache_path" in inspect.signature(quantize_static).parameters


def ranges_path(bundle: ModelBundle) -> Path | None:
    """The bundle's shipped activation ranges, if its card names them and the file is there."""
    entry = (bundle.card or {}).get("int8")
    if not entry or bundle.path is None:
        return None
    path = Path(bundle.path) / entry["ranges"]
    if not path.is_file():
        log.warning("%s: the card names int8 ranges %s, which are missing; running the network in fp32",
                    bundle.path, path.name)
        return None
    return path


def int8_graph(bundle: ModelBundle, fp32_graph: Path | bytes, fp32_key: str) -> Path | bytes | None:
    """The int8 graph of ``bundle`` (cached), or None where it should not or cannot run.

    None when the bundle ships no ranges, the CPU lacks dot-product instructions, or the ranges do not
    fit the exported graph (logged as a warning: the fp32 graph then runs).
    """
    ranges = ranges_path(bundle)
    if ranges is None or not dot_product_cpu():
        return None
    from .engines import cached_graph

    h = hashlib.sha256(f"int8 {INT8_VERSION} {fp32_key}".encode())
    h.update(ranges.read_bytes())
    try:
        return cached_graph(h.hexdigest(), lambda target: quantise(fp32_graph, ranges, target),
                            lambda graph: check(fp32_graph, graph, bundle.image.size), f"{bundle.path} (int8)")
    except (ValueError, KeyError, ModelError) as exc:  # ranges naming other tensors than this export's
        log.warning("%s: no int8 graph from these ranges (%s: they do not fit this export of the network, or this "
                    "onnxruntime cannot read them); running the network in fp32", ranges, exc)
        return None


def export_int8(model_dir: str | os.PathLike, fp32_onnx: Path, out: Path) -> Path:
    """Write the int8 graph of the model in ``model_dir`` to ``out``, from its exported (checked) ``fp32_onnx``,
    with the fp32 file's metadata plus ``precision`` and what the card measured of int8.

    Raises:
        ConfigError: the model has no int8 ranges.
        ModelError: the int8 graph answers otherwise than fp32 (``check``).
    """
    import json

    from .bundle import load_bundle
    from .engines import write_onnx_metadata, read_onnx_metadata

    bundle = load_bundle(model_dir, lazy=True)
    ranges = ranges_path(bundle)
    if ranges is None:
        raise ConfigError(f"{model_dir} has no int8 ranges (its card has no int8 entry): `facexp train` measures them "
                          "for the models it writes, `recipes/calibrate_int8.py` for a FER+ model; export without --int8")
    quantise(fp32_onnx, ranges, out)
    check(fp32_onnx, out, bundle.image.size)
    entry = bundle.card["int8"]
    write_onnx_metadata(out, {**read_onnx_metadata(fp32_onnx), "precision": "int8",
                          "int8": json.dumps({k: v for k, v in entry.items() if k != "ranges"}),
                          "int8_note": "runs on any ONNX Runtime; fast and exact only with int8 dot-product "
                                       "instructions (VNNI on x86-64, dotprod on ARM)"})
    return out


def quantise(fp32_graph: Path | bytes, ranges: Path, target: str | os.PathLike | io.BytesIO) -> None:
    """Write the static int8 (QDQ) graph of ``fp32_graph`` with the activation ranges in ``ranges``."""
    if not ranges_readable():
        raise ModelError("this onnxruntime cannot read int8 ranges (quantize_static has no calibration_cache_path): "
                         "upgrade onnxruntime")
    from onnxruntime.quantization.calibrate import load_tensors_data

    method = load_tensors_data(ranges).calibration_method
    data = _quantise_static(fp32_graph, calibration_cache_path=ranges, calibrate_method=method)
    if isinstance(target, io.BytesIO):
        target.write(data)
    else:
        Path(target).write_bytes(data)


def check(fp32_graph: Path | bytes, graph: str | os.PathLike | bytes, size: int) -> None:
    """The int8 graph answers like the fp32 one on in-range inputs (a flat gray image and a smooth ramp):
    probabilities within ``CHECK_TOLERANCE``.

    Raises:
        ModelError: they differ more, or the int8 graph gives non-finite outputs.
    """
    from .engines import ort_session

    ramp = np.linspace(-1, 1, size, dtype=np.float32)
    x = np.stack([np.zeros((3, size, size), np.float32), np.broadcast_to(ramp, (3, size, size))])
    probs = [softmax(ort_session(g).run(None, {"image": x})[0]) for g in (fp32_graph, graph)]
    diff = float(np.abs(probs[0] - probs[1]).max())
    if not diff <= CHECK_TOLERANCE:  # NaN fails too
        raise ModelError(f"the int8 graph's probabilities differ from fp32 by {diff:.3f} (> {CHECK_TOLERANCE})")


def calibrate_bundle(folder: Path, calibration: np.ndarray, valid: dict[str, tuple[np.ndarray, np.ndarray]],
                     note: str) -> dict:
    """Measure the int8 ranges of the bundle in ``folder`` on ``calibration`` images (network input, (N, 3, S, S)
    float32) and keep them (the card's ``int8`` entry and ``RANGES_FILE``) if the int8 graph is as accurate as
    the fp32 graph on ``valid``: named views of (images, true class index) pairs, index -1 for none.

    "As accurate": over all views, int8 gets at most ``max(1%, one image)`` fewer images right. Returns the
    measurements, ``kept`` saying whether the ranges were kept.
    """
    from .bundle import load_bundle, read_card, write_card
    from .engines import onnx_graph, ort_session

    if not ranges_readable():
        raise ModelError("this onnxruntime cannot write int8 ranges (quantize_static has no calibration_cache_path): "
                         "upgrade onnxruntime to measure them")
    bundle = load_bundle(folder)
    fp32 = onnx_graph(bundle)
    ranges = Path(folder) / RANGES_FILE
    calibrate(fp32, calibration, ranges)
    quantised = io.BytesIO()
    quantise(fp32, ranges, quantised)
    sessions = {"fp32": ort_session(fp32), "int8": ort_session(quantised.getvalue())}
    measured: dict = {}
    right = {"fp32": 0, "int8": 0}
    for view, (x, truth) in valid.items():
        answers = {name: np.concatenate([s.run(None, {"image": x[i:i + 256]})[0].argmax(1)
                                         for i in range(0, len(x), 256)]) for name, s in sessions.items()}
        scored = truth >= 0
        for name in right:
            right[name] += int((answers[name] == truth)[scored].sum())
        measured[view] = {"n": int(scored.sum()), "agree": round(float(np.mean(answers["fp32"] == answers["int8"])), 4),
                          **{name: round(float(np.mean((answers[name] == truth)[scored])), 4) for name in right}}
    n = sum(m["n"] for m in measured.values())
    kept = right["int8"] >= right["fp32"] - max(0.01 * n, 1)
    card = read_card(folder)
    if kept:
        card["int8"] = {"ranges": RANGES_FILE, "calibration": note, "validation": measured}
    else:
        card.pop("int8", None)
        ranges.unlink()
    write_card(folder, card)
    return {"kept": kept, "calibration": note, "validation": measured}


def calibrate(fp32_graph: Path | bytes, images: np.ndarray, ranges: Path, method: str = "Percentile",
              batch: int = 32) -> None:
    """Measure the activation ranges of ``fp32_graph`` on ``images`` (its input, (N, 3, S, S) float32) and
    write them to ``ranges`` (ONNX Runtime's calibration cache). ``method``: a ``CalibrationMethod`` name.

    The images go in batches of ``batch``, the last one filled up from the first images: ONNX Runtime's
    histograms need every batch to have one shape.
    """
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod

    filled = np.take(images, np.arange(-(-len(images) // batch) * batch) % len(images), axis=0)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter(np.split(filled, len(filled) // batch))

        def get_next(self):
            x = next(self.batches, None)
            return None if x is None else {"image": x}

    ranges.unlink(missing_ok=True)  # an existing cache would be read, not measured
    with contextlib.redirect_stdout(io.StringIO()):  # its calibrator prints its progress ("Number of tensors : 101")
        _quantise_static(fp32_graph, calibration_data_reader=Reader(), calibration_cache_path=ranges,
                         calibrate_method=getattr(CalibrationMethod, method))
    ranges.chmod(0o644)  # written private by ONNX Runtime; shipped with a package others read


def _quantise_static(fp32_graph: Path | bytes, **how) -> bytes:
    """ONNX Runtime's static QDQ quantisation of ``fp32_graph`` after its pre-processing (the graph the
    ranges name): weights int8 per output channel, activations uint8, ``float_layers`` left in float."""
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    model = onnx.load_from_string(fp32_graph) if isinstance(fp32_graph, bytes) else str(fp32_graph)
    with tempfile.TemporaryDirectory(prefix="facexp-int8-") as tmp, _quantiser_quiet():
        pre, out = Path(tmp) / "pre.onnx", Path(tmp) / "int8.onnx"
        quant_pre_process(model, str(pre), skip_symbolic_shape=True)
        quantize_static(str(pre), str(out), per_channel=True, quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        nodes_to_exclude=float_layers(onnx.load(str(pre))), **how)
        return out.read_bytes()


class _QuantiserChatter(logging.Filter):
    """Drops the warnings ONNX Runtime's quantiser writes on the root logger, such as "Axis 1 is out-of-range
    for weight '1.2.weight' with rank 1" for the head's 1-D batch-norm weights (they are quantised per
    tensor instead, as intended). They reached the user's screen on the first prediction of every
    model; whether the int8 graph is good enough is judged by facexp's own check against fp32."""

    def filter(self, record: logging.LogRecord) -> bool:
        quantiser = f"{os.sep}onnxruntime{os.sep}quantization{os.sep}"
        return not (record.levelno <= logging.WARNING and quantiser in record.pathname)


@contextlib.contextmanager
def _quantiser_quiet():
    chatter = _QuantiserChatter()
    root = logging.getLogger()
    root.addFilter(chatter)
    try:
        yield
    finally:
        root.removeFilter(chatter)


def float_layers(model) -> list[str]:
    """The nodes kept in float: the first convolution (it sees the raw pixels) and every matrix product (the
    head). On the shipped model's validation split, quantised too they cost 0.4 points through the
    detector; left in float, 0.2."""
    convs = [n.name for n in model.graph.node if n.op_type == "Conv"]
    return convs[:1] + [n.name for n in model.graph.node if n.op_type in ("MatMul", "Gemm")]
