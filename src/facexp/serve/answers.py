"""The JSON bodies of the API, built by plain functions (no FastAPI here, so they run anywhere).

They start from the library's own ``ImageResult.to_dict()`` and remove what must not leave the
server: file paths (of the upload, of the training data, of an initial model).
"""

from __future__ import annotations

import base64
import copy
import io
import time
from collections.abc import Sequence

from PIL import Image

from ..bundle import ModelBundle
from ..errors import FacexpError
from ..imageio import open_image
from ..predict import Predictor
from .errors import ApiError, api_error

_CARD_PATH_KEYS = {"root", "skipped", "init_from", "path", "manifest", "out_dir"}


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
    image = open_image(data, max_pixels=max_pixels, name="upload")
    read_ms = (time.perf_counter() - t0) * 1e3
    result, crops = predictor.predict_with_crops(image)
    body = result.to_dict()
    del body["path"]
    faces = body["faces"]
    if gradcam:
        from ..evaluate import gradcam as heat_map, overlay

        bundle = predictor.bundle
        for face, crop in zip(faces, crops):
            heat = heat_map(bundle, crop, bundle.classes.index(face["label"]))
            face["gradcam"] = data_url(overlay(bundle, crop, heat))
    answer = {"model": predictor.bundle.path.name, "image": {"width": result.width, "height": result.height},
              "count": len(faces), "label": body["label"], "probs": body["probs"], "faces": faces,
              "timings_ms": {**result.timings_ms, "read": round(read_ms, 2)}}
    if annotate:
        from ..predict.render import annotate as draw

        answer["annotated"] = data_url(draw(image, result), "JPEG")
    return answer


def batch_answer(predictor: Predictor, uploads: Sequence[bytes | ApiError], *, max_pixels: int) -> dict:
    """One answer per image, in order; an unreadable image (or an upload already refused, passed
    as its ``ApiError``) is an error item, not a failed batch."""
    results: list[dict] = []
    for item in uploads:
        if not isinstance(item, ApiError):
            try:
                results.append(predict_answer(predictor, item, max_pixels=max_pixels))
                continue
            except FacexpError as exc:
                item = api_error(exc)
        results.append({"error": {"code": item.code, "message": item.detail}})
    return {"count": len(results), "results": results}


def model_card(bundle: ModelBundle) -> dict:
    """The bundle's model.json without the entries that name files on the training machine."""
    return _drop_paths(copy.deepcopy(bundle.card))


def _drop_paths(value):
    if isinstance(value, dict):
        return {k: _drop_paths(v) for k, v in value.items() if k not in _CARD_PATH_KEYS and not _looks_like_path(v)}
    if isinstance(value, list):
        return [_drop_paths(v) for v in value if not _looks_like_path(v)]
    return value


def _looks_like_path(value) -> bool:
    return isinstance(value, str) and (value.startswith(("/", "~", "./", "../")) or value[1:3] in (":\\", ":/"))
