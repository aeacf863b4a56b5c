"""The JSON bodies of the API, built by plain functions (no FastAPI here, so they run anywhere).

They start from the library's own ``ImageResult.to_dict()`` and remove what must not leave the
server: file paths (of the upload, of the training data, of an initial model).
"""

from __future__ import annotations

import base64
import copy
import io
import re
import time
from collections.abc import Sequence

from PIL import Image

from ..bundle import ModelBundle
from ..errors import FacexpError
from ..predict import Predictor
from ..results import ImageResult
from .errors import ApiError, api_error

_CARD_PATH_KEYS = {"root", "skipped", "manifest", "out_dir", "data_dir", "cache_dir"}  # the data's layout
_PATH_TOKEN = re.compile(r"(?:[A-Za-z]:)?[\w.~+@-]*(?:[/\\][\w.~+@-]*)+")  # at least one separator
_MODEL_NAMES = {"model", "model.json", "model.safetensors", "learner.pkl"}


def data_url(image: Image.Image, fmt: str = "PNG") -> str:
    """An image inline in JSON, so a browser shows it without a second request or a file on disk."""
    buf = io.BytesIO()
    image.save(buf, format=fmt, **({"quality": 88} if fmt == "JPEG" else {}))
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buf.getvalue()).decode()


def predict_answer(predictor: Predictor, data: bytes, *, max_pixels: int, annotate: bool = False,
                   gradcam: bool = False) -> dict:
    """Faces, expressions and probabilities for one encoded image; a photo with no face is a normal answer.

    Raises:
        ImageDecodeError: not an image, or truncated.
        ImageTooLarge: more than ``max_pixels`` pixels (refused before decoding).
    """
    t0 = time.perf_counter()
    image, full = predictor.read(data, max_pixels=max_pixels)
    read_ms = (time.perf_counter() - t0) * 1e3
    result, crops = predictor.predict_with_crops(image)
    answer = _answer(predictor, result.at_size(full), read_ms)
    if gradcam:
        from ..evaluate import gradcam as heat_map, overlay

        bundle = predictor.bundle
        for face, crop in zip(answer["faces"], crops):
            heat = heat_map(bundle, crop, bundle.classes.index(face["label"]))
            face["gradcam"] = data_url(overlay(bundle, crop, heat))
    if annotate:
        from ..predict.render import annotate as draw

        answer["annotated"] = data_url(draw(image, result), "JPEG")
    return answer


def _answer(predictor: Predictor, result: ImageResult, read_ms: float | None) -> dict:
    body = result.to_dict()
    timings = result.timings_ms if read_ms is None else {**result.timings_ms, "read": round(read_ms, 2)}
    return {"model": predictor.bundle.name, "image": {"width": result.width, "height": result.height},
            "count": len(body["faces"]), "label": body["label"], "probs": body["probs"], "faces": body["faces"],
            "timings_ms": timings}


def batch_answer(predictor: Predictor, uploads: Sequence[bytes | ApiError], *, max_pixels: int) -> dict:
    """One answer per image, in order; an unreadable image (or an upload already refused, passed
    as its ``ApiError``) is an error item, not a failed batch.

    The photos are decoded and searched for faces one at a time (only their crops are kept), then
    every face of the batch goes through the network in one call.
    """
    readable = [i for i, item in enumerate(uploads) if not isinstance(item, ApiError)]
    try:  # the predictor decodes one upload at a time and keeps only its crops
        found = predictor.predict_batch([uploads[i] for i in readable], max_pixels=max_pixels)
        answers = dict(zip(readable, found))
    except FacexpError:  # not a read error: answer image by image, so only the photo at fault fails
        answers = {}
        for i in readable:
            try:
                answers[i] = predictor.predict_batch([uploads[i]], max_pixels=max_pixels)[0]
            except FacexpError as exc:
                answers[i] = exc
    results: list[dict] = []
    for i, item in enumerate(uploads):
        item = answers.get(i, item)
        if isinstance(item, ImageResult):
            results.append(_answer(predictor, item, None))
            continue
        if isinstance(item, FacexpError):
            item = api_error(item)
        results.append({"error": {"code": item.code, "message": item.detail}})
    return {"count": len(results), "results": results}


def model_card(bundle: ModelBundle) -> dict:
    """The bundle's model.json with names and metrics, not the training machine's layout.

    Entries about where the data lay (``root``, ``skipped``, ...) are left out, and every path
    inside a value becomes a name: "initialised from runs/fer8/stage1/model" reads "initialised
    from stage1" (a model directory is named by its run), "/data/fer/a.jpg" reads "a.jpg".
    """
    card = _names_only(copy.deepcopy(bundle.card))
    return {**card, "name": bundle.name} if bundle.path is not None else card


def _names_only(value):
    if isinstance(value, dict):
        return {k: _names_only(v) for k, v in value.items() if k not in _CARD_PATH_KEYS}
    if isinstance(value, list):
        return [v for v in (_names_only(v) for v in value) if v != ""]
    if isinstance(value, str) and ("/" in value or "\\" in value):
        return _PATH_TOKEN.sub(lambda m: _path_name(m.group(0)), value).strip()
    return value


def _path_name(path: str) -> str:
    """The last meaningful component: the run for a ``.../model`` directory, else the file or folder name."""
    parts = [p for p in re.split(r"[/\\]", path) if p not in ("", ".", "..", "~") and not p.endswith(":")]
    if len(parts) > 1 and parts[-1] in _MODEL_NAMES:
        return parts[-2]
    return parts[-1] if parts else ""
