"""Video: sample frames, find and classify every face, follow each person, and write what was seen.

Frames are read with OpenCV's FFmpeg backend (any container it reads: mp4, mov, avi, mkv, webm,
y4m, ...), ``fps`` of them per second of clip (``every_frame`` for all). Each sampled frame goes
through the Predictor like a photo (faces of ``CHUNK_FRAMES`` frames share one network call), then
``FaceFollower`` gives every face a track id and smooths its probabilities over time.

``analyse_video`` writes, into one folder:

- ``frames.jsonl``: one line per sampled frame (``FrameResult.to_json()``: frame, time_s, faces
  with track, box, label, probs), flushed line by line;
- ``tracks.csv``: per track, when it was seen, its frames, the share of its time in each
  expression and the dominant one;
- ``timeline.png``: each track's expression probabilities over time;
- with ``annotate``, a video of the sampled frames with boxes, track ids and labels (mp4v in
  .mp4/.mov/.mkv, MJPG in .avi, VP8 in .webm: this OpenCV build has no H.264 encoder).

Ctrl-C stops the loop, and the files are closed complete: the JSONL holds whole lines, the CSV and
the plot cover the frames done, and the video is finalised.
"""

from __future__ import annotations

import csv
import math
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from ..errors import ConfigError, VideoDecodeError, VideoTooLong
from ..results import FrameResult
from .tracker import FaceFollower

if TYPE_CHECKING:
    from .predictor import Predictor

VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv",
                            ".3gp", ".ts", ".mts", ".ogv", ".y4m"})
DEFAULT_FPS = 4.0  # frames sampled per second of clip
DEFAULT_SMOOTH_S = 0.5  # time constant of the per-track smoothing
MAX_FRAMES = 100_000  # sampled frames one call may process (a 4-hour clip at 7 fps)
CHUNK_FRAMES = 8  # frames whose faces go through the network in one call
DETECT_THREADS = 2  # frames whose faces are searched at once (see Predictor.predict_batch)
FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".mkv": "mp4v", ".avi": "MJPG", ".webm": "VP80"}
MAX_PLOTTED = 8  # tracks drawn in the timeline (the longest)


def is_video_path(path: str | os.PathLike) -> bool:
    """True for file names with a video extension (``VIDEO_SUFFIXES``)."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def _capture(path: Path):
    """An opened cv2.VideoCapture on ``path`` (FFmpeg's own messages silenced), or VideoDecodeError."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # read when a capture opens: no 'moov atom not found'
    import cv2

    if not path.is_file():
        raise VideoDecodeError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise VideoDecodeError(f"{path}: the file is empty (0 bytes); pass a video file")
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # no "can't capture by name" warning either
    try:
        cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    finally:
        cv2.utils.logging.setLogLevel(level)
    if not cap.isOpened():
        raise VideoDecodeError(f"{path}: not a video OpenCV/FFmpeg can read (or truncated: an .mp4 cut short loses "
                               "its index); check it plays, or re-encode it with `ffmpeg -i IN -c:v libx264 OUT.mp4`")
    return cap


@dataclass(frozen=True)
class VideoInfo:
    """What the container says: frame size, frame rate and frame count (None when it does not say)."""

    path: str
    width: int
    height: int
    fps: float
    n_frames: int | None

    @property
    def duration_s(self) -> float | None:
        return self.n_frames / self.fps if self.n_frames and self.fps else None

    def rate(self, fps: float | None, every_frame: bool) -> float:
        """Frames sampled per second: ``fps``, at most the clip's own rate (all of them with ``every_frame``)."""
        if every_frame or fps is None:
            return self.fps if every_frame else min(DEFAULT_FPS, self.fps)
        return min(fps, self.fps)

    def n_samples(self, rate: float) -> int | None:
        """Frames that sampling at ``rate`` will process (None when the length is unknown)."""
        if self.n_frames is None:
            return None
        return self.n_frames if rate >= self.fps else math.ceil(self.duration_s * rate)  # type: ignore[operator]


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Open ``path`` and read its size, frame rate and length.

    Raises:
        VideoDecodeError: a missing, empty, truncated or non-video file, or one with no decodable frame.
    """
    import cv2

    path = Path(path)
    cap = _capture(path)
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS))
        count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        width, height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if not cap.grab():
            raise VideoDecodeError(f"{path}: no frame could be decoded (an empty or damaged video); check it plays")
    finally:
        cap.release()
    n_frames = int(count) if 0 < count < 1e9 else None  # streams say 0, a lone image says -2**63
    return VideoInfo(str(path), width, height, fps if 0 < fps <= 1000 else 25.0, n_frames)


def _length(seconds: float) -> str:
    """'4.0 h', '12.5 min' or '8.0 s'."""
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.1f} s"


class FrameReader:
    """The sampled frames of one clip as (index, time_s, RGB array), checked against ``max_frames`` first.

    After iteration, ``n_read`` says how many frames were decoded and ``warnings`` holds a note
    when the clip ended well before its stated length (a truncated or damaged file).

    Raises:
        ConfigError: ``fps`` not positive.
        VideoDecodeError: not a readable video, or no frame could be decoded.
        VideoTooLong: the sampling would process more than ``max_frames`` frames.
    """

    def __init__(self, path: str | os.PathLike, *, fps: float | None = DEFAULT_FPS, every_frame: bool = False,
                 max_frames: int = MAX_FRAMES):
        if fps is not None and not fps > 0:
            raise ConfigError(f"the fps parameter must be positive; got {fps}")
        self.path = Path(path)
        self.info = probe_video(self.path)
        self.rate = self.info.rate(fps, every_frame)
        self.every_frame = every_frame or self.rate >= self.info.fps
        self.max_frames = max_frames
        self.n_samples = self.info.n_samples(self.rate)
        self.n_read = 0
        self.warnings: list[str] = []
        if self.n_samples is not None and self.n_samples > max_frames:
            seconds = self.info.duration_s or 1.0
            raise VideoTooLong(f"{self.path}: {_length(seconds)} at {self.rate:g} frames/s is {self.n_samples:,} "
                               f"frames, over the limit of {max_frames:,}; lower --fps (at most "
                               f"{max_frames / seconds:.2g} for this clip) or raise --max-frames")

    def __iter__(self) -> Iterator[tuple[int, float, np.ndarray]]:
        import cv2

        cap = _capture(self.path)
        step = 1.0 / self.rate
        next_s, last_s, n_sampled = 0.0, -1.0, 0
        try:
            while cap.grab():
                index = self.n_read
                self.n_read += 1
                pos = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000
                time_s = pos if pos > last_s else index / self.info.fps  # containers without timestamps
                last_s = time_s
                if not self.every_frame:
                    if time_s + 1e-6 < next_s:
                        continue
                    while next_s <= time_s + 1e-6:  # the first frame at or after each 1/rate step
                        next_s += step
                ok, bgr = cap.retrieve()
                if not ok:
                    continue
                if n_sampled >= self.max_frames:
                    self.warnings.append(f"{self.path}: stopped at the limit of {self.max_frames:,} frames "
                                         f"({time_s:.1f} s in); lower --fps or raise --max-frames")
                    break
                n_sampled += 1
                yield index, time_s, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        finally:
            cap.release()
        if self.n_read == 0:
            raise VideoDecodeError(f"{self.path}: no frame could be decoded (an empty or damaged video); "
                                   "check it plays")
        expected = self.info.n_frames
        if expected and self.n_read < 0.9 * expected and expected - self.n_read > 2:
            self.warnings.append(f"{self.path}: ended after {self.n_read} of its {expected} frames "
                                 f"({self.n_read / self.info.fps:.1f} of {self.info.duration_s:.1f} s): truncated or "
                                 "damaged; the results cover what could be read")


def follow_frames(predictor: Predictor, frames: Iterable[tuple[int, float, np.ndarray]], *, path: str | None = None,
                  smooth_s: float = DEFAULT_SMOOTH_S, chunk: int = CHUNK_FRAMES
                  ) -> Iterator[tuple[FrameResult, np.ndarray]]:
    """Each frame's FrameResult (faces with track ids, smoothed) and the frame itself, in order.

    The faces of ``chunk`` frames go through the network in one call, found ``DETECT_THREADS`` frames at a time.
    """
    follower = FaceFollower(smooth_s=smooth_s)
    batch: list[tuple[int, float, np.ndarray]] = []

    def flush() -> Iterator[tuple[FrameResult, np.ndarray]]:
        results = predictor.predict_batch([Image.fromarray(rgb) for _, _, rgb in batch], workers=DETECT_THREADS)
        for (index, time_s, rgb), result in zip(batch, results):
            yield follower.step(result, time_s=time_s, frame=index, path=path), rgb  # type: ignore[arg-type]
        batch.clear()

    for item in frames:
        batch.append(item)
        if len(batch) >= chunk:
            yield from flush()
    if batch:
        yield from flush()


def predict_video(predictor: Predictor, path: str | os.PathLike, *, fps: float | None = DEFAULT_FPS,
                  every_frame: bool = False, smooth_s: float = DEFAULT_SMOOTH_S, max_frames: int = MAX_FRAMES
                  ) -> Iterator[FrameResult]:
    """The FrameResult of every sampled frame of ``path`` (see ``Predictor.predict_video``)."""
    reader = FrameReader(path, fps=fps, every_frame=every_frame, max_frames=max_frames)
    for result, _ in follow_frames(predictor, reader, path=str(path), smooth_s=smooth_s):
        yield result


# --- what a clip adds up to ------------------------------------------------------------------
@dataclass(frozen=True)
class TrackSummary:
    """One person over the clip: when seen, in how many frames, and the share of each expression."""

    track: int
    start_s: float
    end_s: float
    n_frames: int
    dominant: str
    shares: dict[str, float]  # fraction of the track's sampled frames with each (smoothed) label

    def to_dict(self) -> dict:
        return {"track": self.track, "start_s": round(self.start_s, 3), "end_s": round(self.end_s, 3),
                "n_frames": self.n_frames, "dominant": self.dominant,
                "shares": {k: round(v, 4) for k, v in self.shares.items()}}


class TrackLog:
    """Per track, the times and probabilities of its frames: enough for the summary and the timeline."""

    def __init__(self, classes: list[str]):
        self.classes = classes
        self.times: dict[int, list[float]] = {}
        self.probs: dict[int, list[list[float]]] = {}
        self.n_frames = 0
        self.n_with_faces = 0
        self.last_s = 0.0

    def add(self, result: FrameResult) -> None:
        self.n_frames += 1
        self.n_with_faces += bool(result.faces)
        self.last_s = result.time_s
        for face in result.faces:
            tid = face.track if face.track is not None else 0
            self.times.setdefault(tid, []).append(result.time_s)
            self.probs.setdefault(tid, []).append([face.probs[c] for c in self.classes])

    def summaries(self) -> list[TrackSummary]:
        """One summary per track, in order of first appearance."""
        out = []
        for tid, times in self.times.items():
            labels = np.asarray(self.probs[tid]).argmax(axis=1)
            counts = np.bincount(labels, minlength=len(self.classes)) / len(labels)
            out.append(TrackSummary(tid, times[0], times[-1], len(times), self.classes[int(counts.argmax())],
                                    {c: float(v) for c, v in zip(self.classes, counts)}))
        return out


def write_tracks_csv(summaries: list[TrackSummary], classes: list[str], path: Path) -> Path:
    """tracks.csv: track, start_s, end_s, n_frames, dominant, then each class's share of the track's time."""
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["track", "start_s", "end_s", "n_frames", "dominant", *classes])
        for s in summaries:
            writer.writerow([s.track, f"{s.start_s:.3f}", f"{s.end_s:.3f}", s.n_frames, s.dominant,
                             *(f"{s.shares[c]:.4f}" for c in classes)])
    return path


def plot_timeline(log: TrackLog, path: Path, *, title: str = "") -> Path:
    """timeline.png: one panel per track (the ``MAX_PLOTTED`` longest), each class's probability over time."""
    from matplotlib.figure import Figure

    shown = sorted(log.times, key=lambda t: -len(log.times[t]))[:MAX_PLOTTED]
    shown.sort()
    fig = Figure(figsize=(9, 1.2 + 1.8 * max(1, len(shown))))
    axes = fig.subplots(max(1, len(shown)), 1, sharex=True, squeeze=False)[:, 0]
    end = max(log.last_s, 1e-3)
    if not shown:
        axes[0].text(0.5, 0.5, "no face in the sampled frames", ha="center", va="center", transform=axes[0].transAxes)
        axes[0].set(xlim=(0, end), yticks=[])
    for ax, tid in zip(axes, shown):
        times, probs = np.asarray(log.times[tid]), np.asarray(log.probs[tid])
        gaps = np.flatnonzero(np.diff(times) > 1.0) + 1  # do not join a line across the time a person was away
        for k, name in enumerate(log.classes):
            for j, (seg_t, seg_p) in enumerate(zip(np.split(times, gaps), np.split(probs[:, k], gaps))):
                ax.plot(seg_t, seg_p, color=f"C{k % 10}", lw=1.4, marker="." if len(seg_t) == 1 else None,
                        label=None if j else name)
        dominant = log.classes[int(np.bincount(probs.argmax(axis=1), minlength=len(log.classes)).argmax())]
        ax.set(ylim=(0, 1), xlim=(0, end), ylabel="probability")
        ax.set_title(f"#{tid}: {len(times)} frames, mostly {dominant}", fontsize=9, loc="left")
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("time (s)")
    if shown:
        axes[0].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    hidden = len(log.times) - len(shown)
    fig.suptitle(title + (f" ({hidden} shorter tracks not drawn)" if hidden else ""), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return path


def annotate_frame(rgb: np.ndarray, result: FrameResult) -> Image.Image:
    """The frame with each face's box, '#track label NN%' and a colour per track (or a 'no face' mark)."""
    from ..faces.draw import draw_faces
    from .render import NO_FACE

    faces = result.faces
    return draw_faces(Image.fromarray(rgb), [f.box for f in faces],
                      [f"#{f.track} {f.label} {f.confidence:.0%}" for f in faces],
                      note=None if faces else NO_FACE, colours=[(f.track or 1) - 1 for f in faces])


class AnnotatedWriter:
    """A video file of annotated frames, at ``rate`` frames per second; the codec follows the suffix."""

    def __init__(self, path: str | os.PathLike, *, rate: float, size: tuple[int, int]):
        import cv2

        self.path = Path(path)
        fourcc = FOURCC.get(self.path.suffix.lower())
        if fourcc is None:
            raise ConfigError(f"--annotate {self.path}: write the annotated video as .mp4, .avi, .mkv, .mov or .webm")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*fourcc), rate, size)
        if not self._writer.isOpened():
            raise ConfigError(f"--annotate {self.path}: OpenCV cannot write {fourcc} here; try an .avi path")
        self.n_frames = 0

    def write(self, image: Image.Image) -> None:
        import cv2

        self._writer.write(cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2BGR))
        self.n_frames += 1

    def close(self) -> None:
        self._writer.release()  # writes the index: the file plays


@dataclass
class VideoReport:
    """What ``analyse_video`` did: the clip, frames processed, tracks, files written, and notes."""

    path: str
    info: VideoInfo
    rate: float
    n_frames: int
    n_with_faces: int
    last_s: float
    tracks: list[TrackSummary]
    files: dict[str, Path]
    interrupted: bool = False
    warnings: list[str] = field(default_factory=list)


def analyse_video(predictor: Predictor, path: str | os.PathLike, out_dir: str | os.PathLike, *,
                  fps: float | None = DEFAULT_FPS, every_frame: bool = False, smooth_s: float = DEFAULT_SMOOTH_S,
                  annotate: str | os.PathLike | None = None, max_frames: int = MAX_FRAMES,
                  on_frame: Callable[[FrameResult], None] | None = None) -> VideoReport:
    """Run the Predictor over a clip and write frames.jsonl, tracks.csv and timeline.png into ``out_dir``.

    Args:
        fps: frames sampled per second of clip (at most the clip's rate).
        every_frame: process every frame instead.
        smooth_s: time constant of the per-track smoothing (0: none).
        annotate: also write the sampled frames with boxes, track ids and labels to this video file.
        max_frames: refuse (before any work) a clip that would need more sampled frames.
        on_frame: called with each FrameResult as it is done (e.g. to print it).

    Returns:
        A VideoReport. Ctrl-C ends the run early with ``interrupted=True``: every file is then
        complete for the frames done.

    Raises:
        VideoDecodeError: not a readable video; VideoTooLong: over ``max_frames``; ConfigError: bad options.
    """
    from .._progress import track

    reader = FrameReader(path, fps=fps, every_frame=every_frame, max_frames=max_frames)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    info = reader.info
    writer = AnnotatedWriter(annotate, rate=reader.rate, size=(info.width, info.height)) if annotate else None
    files = {"frames": out_dir / "frames.jsonl", "tracks": out_dir / "tracks.csv", "timeline": out_dir / "timeline.png"}
    log = TrackLog(list(predictor.classes))
    interrupted = False
    try:
        with files["frames"].open("w") as jsonl:
            try:
                frames = follow_frames(predictor, reader, path=str(path), smooth_s=smooth_s)
                for result, rgb in track(frames, Path(path).name, total=reader.n_samples):
                    image = annotate_frame(rgb, result) if writer is not None else None
                    with _ctrl_c_after():
                        _write_frame(result, image, jsonl, log, writer)
                    if on_frame is not None:
                        on_frame(result)
            except KeyboardInterrupt:
                interrupted = True
    finally:
        if writer is not None:
            writer.close()
            files["annotated"] = writer.path
        summaries = log.summaries()
        write_tracks_csv(summaries, log.classes, files["tracks"])
        plot_timeline(log, files["timeline"], title=f"{Path(path).name}: sampled at {reader.rate:g} frames/s")
    return VideoReport(str(path), info, reader.rate, log.n_frames, log.n_with_faces, log.last_s, summaries, files,
                       interrupted, reader.warnings)


def _write_frame(result: FrameResult, image: Image.Image | None, jsonl, log: TrackLog,
                 writer: AnnotatedWriter | None) -> None:
    """One frame into the annotated video, the track log and the JSONL (called inside ``_ctrl_c_after``,
    so the three always hold the same frames)."""
    if writer is not None:
        writer.write(image)  # type: ignore[arg-type]
    log.add(result)
    jsonl.write(result.to_json() + "\n")
    jsonl.flush()


@contextmanager
def _ctrl_c_after() -> Iterator[None]:
    """Ctrl-C during the block takes effect when it ends: a frame is written to every output or to none.

    Python raises KeyboardInterrupt between any two bytecodes, e.g. after OpenCV wrote a video frame
    and before the count of written frames went up, so finishing a half-written frame afterwards could
    not know what was already written. Signals reach only the main thread; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, _frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt