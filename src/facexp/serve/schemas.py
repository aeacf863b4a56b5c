"""Response shapes, declared so /docs shows them and every answer is checked against them."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Face(BaseModel):
    """One face, largest first."""

    box: list[int] = Field(description="x, y, width, height in pixels of the upright (EXIF-rotated) image")
    score: float = Field(description="face detector confidence (1.0 when the model reads the whole image)")
    label: str = Field(description="the most probable expression")
    probs: dict[str, float] = Field(description="probability of every expression the model knows")
    gradcam: str | None = Field(None, description="with ?gradcam=true: PNG data URL of the face crop as the network "
                                                   "saw it, with a heat map of where it looked for `label`")
    track: int | None = Field(None, description="live and video: the person's id, kept from frame to frame while "
                                                "they stay in view")


class ImageSize(BaseModel):
    width: int
    height: int


class PredictResponse(BaseModel):
    """Every face in one image. A photo with no face is a normal answer with ``count`` 0."""

    model: str = Field(description="name of the model bundle that answered")
    image: ImageSize
    count: int = Field(description="number of faces")
    label: str | None = Field(description="the largest face's expression (null when there is no face)")
    probs: dict[str, float] = Field(description="the largest face's probabilities ({} when there is no face)")
    faces: list[Face]
    timings_ms: dict[str, float] = Field(description="read, faces (detection) and classify times")
    annotated: str | None = Field(None, description="with ?annotate=true: JPEG data URL of the photo with boxes "
                                                    "and labels drawn")


class LiveResponse(PredictResponse):
    """One camera frame of a Live session: faces carry ``track`` ids; probabilities are smoothed over time."""

    session: str = Field(description="the session id the page sent")
    time_s: float = Field(description="the frame's time in the session (the page's clock, else the server's)")


class Frame(BaseModel):
    """One sampled frame of a clip."""

    frame: int = Field(description="index of the frame in the clip (0-based)")
    time_s: float
    width: int
    height: int
    label: str | None
    probs: dict[str, float]
    faces: list[Face]


class TrackSummary(BaseModel):
    """One person over the clip."""

    track: int
    start_s: float
    end_s: float
    n_frames: int
    dominant: str = Field(description="the expression with the largest share of the person's frames")
    shares: dict[str, float] = Field(description="fraction of the person's sampled frames with each expression")


class VideoInfo(BaseModel):
    width: int
    height: int
    fps: float
    duration_s: float | None
    sampled_fps: float


class VideoResponse(BaseModel):
    """Every sampled frame of an uploaded clip, and a summary per person (track)."""

    model: str
    video: VideoInfo
    count: int = Field(description="number of sampled frames")
    frames: list[Frame]
    tracks: list[TrackSummary]
    warnings: list[str] = Field(description="e.g. the clip ended before its stated length (truncated)")


class ErrorDetail(BaseModel):
    code: str = Field(description="stable, for programs: bad_image, too_large, empty, too_many, bad_request, "
                                  "unauthorized, busy, timeout, request_timeout, model_unavailable, ...")
    message: str = Field(description="for people: what failed and what to do")


class ErrorResponse(BaseModel):
    error: ErrorDetail


class BatchResponse(BaseModel):
    """One item per uploaded image, in upload order: an answer, or an error for that image alone."""

    count: int
    results: list[PredictResponse | ErrorResponse]


class Health(BaseModel):
    status: str
    version: str


def error_responses(*statuses: int) -> dict[int | str, dict]:
    """OpenAPI entries for the error answers a route can give."""
    return {status: {"model": ErrorResponse} for status in statuses}
