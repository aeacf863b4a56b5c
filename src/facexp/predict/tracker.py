"""Following faces across video frames: an IoU tracker and per-track smoothing of probabilities.

``FaceTracker`` gives each face box of a frame the id of the live track it overlaps most (greedy,
best overlap first), comparing with where each track is expected to be by now (its last box moved
at its recent speed, as SORT does with a Kalman filter); a box that overlaps no track but whose
centre is within ``max_shift`` face widths of that place, at a similar size, still joins it (a face
moving fast between sparse samples). A box that joins no track starts a new one only when the
detector is sure of it (score at least ``new_track_score``); a less sure one is dropped, as
ByteTrack does with its two thresholds: the detector's rare false faces (0.90-0.92 on a spacesuit in
the benchmark clip, where real faces score 0.99+) then do not become people, while a real face that
scores lower for a frame (blur, a turn) still continues its track. A track not seen for
``max_gap_s`` seconds ends, so a person who leaves and comes back gets a new id. This is the
simple IoU tracker (Bochinski et al. 2017) with SORT's motion step and ByteTrack's score rule,
without their Kalman filter and second matching pass: on the test clips and the benchmark (people
who do not cross) it kept every id, and it needs no extra package. It has no appearance model: two
people who cross may swap ids.

``ProbSmoother`` averages each track's probabilities exponentially over time (time constant
``smooth_s``), so one blurred frame does not flip the label; the weight follows the real time
between samples, so it means the same at 2 or 30 frames per second.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..results import FrameResult, ImageResult

Box = tuple[float, float, float, float]  # x, y, w, h


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two x, y, w, h boxes (0 when they do not touch)."""
    ix = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    iy = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if ix <= 0 or iy <= 0:
        return 0.0
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def centre_shift(a: Box, b: Box) -> float:
    """How far the centre moved from ``a`` to ``b``, in face widths (the mean of the two)."""
    dx = (b[0] + b[2] / 2) - (a[0] + a[2] / 2)
    dy = (b[1] + b[3] / 2) - (a[1] + a[3] / 2)
    return math.hypot(dx, dy) / max(1.0, (a[2] + b[2]) / 2)


@dataclass
class Track:
    """One followed face: its id, its last box, when it was last seen and its speed (px/s)."""

    id: int
    box: Box
    last_s: float
    hits: int = 1
    velocity: tuple[float, float] = (0.0, 0.0)

    def expected(self, time_s: float) -> Box:
        """Where the box should be at ``time_s`` if the face kept its speed."""
        dt = time_s - self.last_s
        return (self.box[0] + self.velocity[0] * dt, self.box[1] + self.velocity[1] * dt, self.box[2], self.box[3])

    def move(self, box: Box, time_s: float) -> None:
        """Record the face at ``box`` at ``time_s``; the speed is averaged over the last moves."""
        dt = time_s - self.last_s
        if dt > 0:
            vx, vy = (box[0] - self.box[0]) / dt, (box[1] - self.box[1]) / dt
            old = self.velocity if self.hits > 1 else (vx, vy)
            self.velocity = (0.5 * old[0] + 0.5 * vx, 0.5 * old[1] + 0.5 * vy)
        self.box, self.last_s, self.hits = box, time_s, self.hits + 1


class FaceTracker:
    """Give the faces of successive frames stable ids.

    Args:
        min_iou: a box joins a track it overlaps at least this much.
        max_shift: failing that, it joins one whose centre is within this many face widths.
        max_gap_s: a track unseen for longer ends.
        new_track_score: a box that joins no track starts one only with this detector score (else: None).

    Example:
        >>> t = FaceTracker()
        >>> t.update([(10, 10, 50, 50)], 0.0), t.update([(14, 12, 50, 50), (200, 10, 50, 50)], 0.25)
        ([1], [1, 2])
    """

    def __init__(self, *, min_iou: float = 0.3, max_shift: float = 1.5, max_gap_s: float = 1.0,
                 new_track_score: float = 0.97):
        self.min_iou = min_iou
        self.max_shift = max_shift
        self.max_gap_s = max_gap_s
        self.new_track_score = new_track_score
        self.tracks_: dict[int, Track] = {}
        self.n_tracks_ = 0

    def update(self, boxes: Sequence[Box], time_s: float, scores: Sequence[float] | None = None) -> list[int | None]:
        """The track id of each box of the frame at ``time_s`` (times must not go backwards); None for a
        box that joins no track and whose detector score (``scores``) is below ``new_track_score``."""
        self.tracks_ = {i: t for i, t in self.tracks_.items() if time_s - t.last_s <= self.max_gap_s}
        pairs = []
        for d, box in enumerate(boxes):
            for t in self.tracks_.values():
                guess = t.expected(time_s)
                overlap = iou(guess, box)
                if overlap >= self.min_iou:
                    pairs.append((1.0 + overlap, d, t.id))  # any overlap beats any shift
                elif (shift := centre_shift(guess, box)) <= self.max_shift and 0.5 <= box[2] / guess[2] <= 2:
                    pairs.append((1.0 - shift / (self.max_shift + 1e-9), d, t.id))
        ids: list[int | None] = [None] * len(boxes)
        taken: set[int] = set()
        for _, d, tid in sorted(pairs, reverse=True):
            if ids[d] is None and tid not in taken:
                ids[d] = tid
                taken.add(tid)
        for d, box in enumerate(boxes):
            if ids[d] is None:
                if scores is not None and scores[d] < self.new_track_score:
                    continue
                self.n_tracks_ += 1
                ids[d] = self.n_tracks_
                self.tracks_[self.n_tracks_] = Track(self.n_tracks_, tuple(box), time_s)  # type: ignore[arg-type]
            else:
                self.tracks_[ids[d]].move(tuple(box), time_s)  # type: ignore[index,arg-type]
        return ids


class ProbSmoother:
    """Exponential moving average of each track's probabilities with time constant ``smooth_s``
    (0: no smoothing). A track's first frame is taken as is."""

    def __init__(self, smooth_s: float = 0.5):
        self.smooth_s = smooth_s
        self._state: dict[int, tuple[float, np.ndarray]] = {}

    def update(self, track: int, probs: np.ndarray, time_s: float) -> np.ndarray:
        """The smoothed probabilities of ``track`` after seeing ``probs`` at ``time_s``."""
        previous = self._state.get(track)
        if previous is None or self.smooth_s <= 0:
            out = np.asarray(probs, dtype=np.float64)
        else:
            last_s, last = previous
            weight = 1.0 - math.exp(-max(0.0, time_s - last_s) / self.smooth_s)
            out = last + weight * (np.asarray(probs, dtype=np.float64) - last)
        self._state[track] = (time_s, out)
        return out

    def forget(self, keep: Sequence[int]) -> None:
        """Drop the state of tracks not in ``keep`` (ended tracks), so memory stays bounded."""
        self._state = {k: v for k, v in self._state.items() if k in set(keep)}


class FaceFollower:
    """A frame's ImageResult → its FrameResult: each face with its track id and smoothed probabilities.

    Feed frames in time order; one follower per clip (or per live camera session).

    Args:
        smooth_s: time constant of the smoothing in seconds (0: each frame's own probabilities).
        tracker: a configured ``FaceTracker`` (default: ``FaceTracker()``).
    """

    def __init__(self, *, smooth_s: float = 0.5, tracker: FaceTracker | None = None):
        self.tracker = tracker or FaceTracker()
        self.smoother = ProbSmoother(smooth_s)

    def step(self, result: ImageResult, *, time_s: float, frame: int = 0, path: str | None = None) -> FrameResult:
        """``result`` of the frame at ``time_s`` with track ids and smoothed labels and probabilities
        (``path``: the clip's, when the result has none). A face the tracker does not take (an unsure
        detection that continues no track) is left out."""
        ids = self.tracker.update([f.box for f in result.faces], time_s, [f.score for f in result.faces])
        faces = []
        for face, tid in zip(result.faces, ids):
            if tid is None:
                continue
            classes = list(face.probs)
            probs = self.smoother.update(tid, np.fromiter(face.probs.values(), dtype=np.float64), time_s)
            faces.append(dataclasses.replace(face, track=tid, label=classes[int(probs.argmax())],
                                             probs={c: float(p) for c, p in zip(classes, probs)}))
        self.smoother.forget(list(self.tracker.tracks_))
        return FrameResult(path or result.path, result.width, result.height, faces, result.timings_ms, frame=frame,
                           time_s=time_s)
