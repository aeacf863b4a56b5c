"""POST /v1/predict, /v1/predict/batch, /v1/predict/live and /v1/predict/video: uploads in, faces and
expressions out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile

from ..answers import batch_answer, predict_answer
from ..deps import ServiceDep
from ..errors import ApiError
from ..live import MAX_VIDEO_FPS, live_answer, video_answer
from ..schemas import BatchResponse, LiveResponse, PredictResponse, VideoResponse, error_responses

router = APIRouter(prefix="/v1", tags=["predict"])


async def read_upload(upload: UploadFile, limit: int) -> bytes:
    """The file's bytes, refusing more than ``limit`` without reading further, and empty files."""
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise ApiError(413, "too_large", f"{upload.filename or 'the upload'} is over the limit of {limit:,} bytes")
    if not data:
        raise ApiError(400, "empty", f"{upload.filename or 'the upload'} is empty")
    return data


@router.post("/predict", response_model=PredictResponse, response_model_exclude_unset=True,
             responses=error_responses(400, 401, 408, 413, 415, 422, 503, 504))
async def predict(
    service: ServiceDep,
    file: Annotated[UploadFile, File(description="the photo: JPEG, PNG, WebP, BMP, GIF or TIFF")],
    annotate: Annotated[bool, Query(description="also return the photo with boxes and labels drawn")] = False,
    gradcam: Annotated[bool, Query(description="also return a Grad-CAM heat map per face")] = False,
) -> dict:
    """Find every face in one photo and read its expression."""
    data = await read_upload(file, service.settings.max_upload_bytes)
    max_pixels = service.settings.max_pixels
    return await service.run(lambda: predict_answer(service.predictor, data, max_pixels=max_pixels,
                                                    annotate=annotate, gradcam=gradcam))


@router.post("/predict/batch", response_model=BatchResponse, response_model_exclude_unset=True,
             responses=error_responses(401, 408, 413, 422, 503, 504))
async def predict_batch(
    service: ServiceDep,
    files: Annotated[list[UploadFile], File(description="several photos, one `files` field each")],
) -> dict:
    """Several photos in one request; an unreadable photo fails alone, as an error item."""
    settings = service.settings
    if len(files) > settings.max_batch:
        raise ApiError(413, "too_many", f"{len(files)} images in one request; the limit is {settings.max_batch}")
    uploads: list[bytes | ApiError] = []
    for upload in files:
        try:
            uploads.append(await read_upload(upload, settings.max_upload_bytes))
        except ApiError as exc:
            uploads.append(exc)
    return await service.run(lambda: batch_answer(service.predictor, uploads, max_pixels=settings.max_pixels))


@router.post("/predict/live", response_model=LiveResponse, response_model_exclude_unset=True,
             responses=error_responses(400, 401, 408, 413, 415, 422, 503, 504))
async def predict_live(
    service: ServiceDep,
    file: Annotated[UploadFile, File(description="one camera frame: JPEG, PNG or WebP")],
    session: Annotated[str, Query(pattern=r"^[A-Za-z0-9_-]{1,64}$",
                                  description="an id the page picks per camera run; faces keep track ids within it")],
    t: Annotated[float | None, Query(ge=0, le=1e7, description="the frame's time in seconds on the page's clock "
                                                                "(default: the server's)")] = None,
) -> dict:
    """Read the faces of one webcam frame, following each person from frame to frame (the page's Live mode).

    Send the next frame only when this answer has arrived: a busy server answers 503 at once, and the
    frame is best dropped, not retried.
    """
    data = await read_upload(file, service.settings.max_upload_bytes)
    max_pixels = service.settings.max_pixels
    return await service.run(lambda: live_answer(service.predictor, service.live, data, session=session, time_s=t,
                                                 max_pixels=max_pixels))


@router.post("/predict/video", response_model=VideoResponse, response_model_exclude_unset=True,
             responses=error_responses(400, 401, 408, 413, 415, 422, 503, 504))
async def predict_video(
    service: ServiceDep,
    file: Annotated[UploadFile, File(description="a short clip: mp4, mov, webm, avi, mkv, ...")],
    fps: Annotated[float, Query(gt=0, le=MAX_VIDEO_FPS, description="frames sampled per second of clip")] = 2.0,
) -> dict:
    """Every face of a short clip over time: sampled frames with track ids, and each person's expression shares.

    The clip is bounded by the server's ``max_video_bytes`` and ``max_video_s``; longer recordings
    are for ``facexp predict clip.mp4`` (progress, Ctrl-C, an annotated copy).
    """
    settings = service.settings
    data = await read_upload(file, settings.max_video_bytes)
    return await service.run(lambda: video_answer(service.predictor, data, filename=file.filename, fps=fps,
                                                  max_video_s=settings.max_video_s),
                             timeout_s=settings.video_timeout_s, in_turn=False)
