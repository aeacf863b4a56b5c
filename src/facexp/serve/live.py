"""Camera frames and uploaded clips: the JSON bodies of /v1/predict/live and /v1/predict/video.

Live mode: the page POSTs one camera frame at a time (the next only when the answer to the
previous one has arrived, so a busy server makes it skip frames instead of queueing them) with
a ``session`` id of its own choosing. Each session keeps a ``FaceFollower``, so faces carry
track ids and smoothed probabilities from frame to frame. At most ``live_sessions`` are kept per
worker; a new one evicts the idlest, and a session is only state for tracking, never a login
(the API key is checked on every request, as everywhere).
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections import OrderedDict
from pathlib import Path

from ..errors import VideoDecodeError, VideoTooLong
from ..predict import Predictor
from ..predict.tracker import FaceFollower
from ..predict.video import DEFAULT_SMOOTH_S, FrameReader, TrackLog, follow_frames, is_video_path
from .answers import _answer

MAX_VIDEO_FPS = 5.0  # frames sampled per second of an uploaded clip, at most


class LiveSessions:
    """A FaceFollower per camera session, at most ``capacity`` of them (least recently used goes first)."""

    def __init__(self, capacity: int = 32, *, smooth_s: float = DEFAULT_SMOOTH_S):
        self.capacity = capacity
        self.smooth_s = smooth_s
        self._lock = threading.Lock()
        self._sessions: OrderedDict[str, tuple[FaceFollower, float, float]] = OrderedDict()  # follower, start, last t

    def __len__(self) -> int:
        return len(self._sessions)

    def follower(self, session: str, time_s: float | None) -> tuple[FaceFollower, float]:
        """The session's follower and the frame's time (the client's ``time_s``, else seconds since the
        session began). A time earlier than the session's last one (the page restarted) begins afresh."""
        now = time.monotonic()
        with self._lock:
            entry = self._sessions.pop(session, None)
            if entry is not None:
                follower, start, last = entry
                t = time_s if time_s is not None else now - start
                if t < last:
                    entry = None
            if entry is None:
                follower, start = FaceFollower(smooth_s=self.smooth_s), now
                t = time_s if time_s is not None else 0.0
            self._sessions[session] = (follower, start, t)
            while len(self._sessions) > self.capacity:
                self._sessions.popitem(last=False)
            return follower, t


def live_answer(predictor: Predictor, sessions: LiveSessions, data: bytes, *, session: str, time_s: float | None,
                max_pixels: int) -> dict:
    """One camera frame: faces with track ids and smoothed probabilities, as ``predict_answer`` plus the time.

    Raises:
        ImageDecodeError: not an image; ImageTooLarge: over ``max_pixels``.
    """
    t0 = time.perf_counter()
    image, full = predictor.read(data, max_pixels=max_pixels, name="frame")
    read_ms = (time.perf_counter() - t0) * 1e3
    result = predictor.predict(image).at_size(full)
    follower, t = sessions.follower(session, time_s)
    with sessions._lock:  # frames of one session are followed one at a time, in order
        frame = follower.step(result, time_s=t)
    return {**_answer(predictor, frame, read_ms), "session": session, "time_s": round(t, 3)}


def video_answer(predictor: Predictor, data: bytes, *, filename: str | None, fps: float, max_video_s: float) -> dict:
    """Every sampled frame of an uploaded clip (faces with track ids) and a summary per person.

    Raises:
        VideoDecodeError: not a readable video; VideoTooLong: longer than ``max_video_s``.
    """
    suffix = Path(filename or "").suffix.lower()
    with tempfile.NamedTemporaryFile(suffix=suffix if is_video_path(f"x{suffix}") else ".mp4") as tmp:
        tmp.write(data)
        tmp.flush()
        try:
            reader = FrameReader(tmp.name, fps=min(fps, MAX_VIDEO_FPS), max_frames=int(max_video_s * MAX_VIDEO_FPS) + 1)
        except VideoDecodeError as exc:  # its message names the temporary file: name the upload instead
            raise type(exc)(str(exc).replace(tmp.name, filename or "the upload")) from None
        info = reader.info
        if info.duration_s is not None and info.duration_s > max_video_s:
            raise VideoTooLong(f"the clip is {info.duration_s:.0f} s long; this server takes up to {max_video_s:g} s: "
                               "send a shorter clip, or run `facexp predict clip.mp4` on your machine")
        log = TrackLog(list(predictor.classes))
        frames = []
        for result, _ in follow_frames(predictor, reader):
            log.add(result)
            body = result.to_dict()
            del body["path"]
            frames.append(body)
    return {"model": predictor.bundle.name, "video": {"width": info.width, "height": info.height, "fps": info.fps,
                                                      "duration_s": info.duration_s, "sampled_fps": reader.rate},
            "count": len(frames), "frames": frames, "tracks": [s.to_dict() for s in log.summaries()],
            "warnings": [w.replace(tmp.name, "the clip") for w in reader.warnings]}
