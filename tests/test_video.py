"""Video: clips made here from scikit-image's astronaut (a real face) and coffee (none), through
Predictor.predict_video, analyse_video and `facexp predict clip.mp4`."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from facexp.cli import app
from facexp.errors import VideoTooLong
from facexp.predict import Predictor
from facexp.predict.tracker import FaceTracker, ProbSmoother
from facexp.predict.video import FrameReader, analyse_video
from helpers import shared_path
from video_helpers import astronaut_head, background, moving_face, no_face, side_by_side, write_clip, write_y4m

FPS = 10


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return Predictor()  # the shipped expression model


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """moving.mp4: the astronaut sliding across for 3 s, then 1 s of coffee; pair.avi: two heads side by side."""
    root = tmp_path_factory.mktemp("clips")
    head = astronaut_head()
    return {"moving": write_clip(root / "moving.mp4", moving_face(30) + no_face(10), FPS),
            "pair": write_clip(root / "pair.avi",
                               side_by_side(20, head, head.transpose(Image.Transpose.FLIP_LEFT_RIGHT)), FPS)}


def test_a_moving_face_keeps_one_track_and_the_photos_label_and_the_cut_has_no_face(predictor, clips):
    still = predictor.predict(Image.fromarray(moving_face(30)[15]))
    frames = list(predictor.predict_video(clips["moving"]))
    assert [f.frame for f in frames] == [0, 3, 5, 8, 10, 13, 15, 18, 20, 23, 25, 28, 30, 33, 35, 38]  # 4 per second
    assert all(b.time_s > a.time_s for a, b in zip(frames, frames[1:]))
    with_face = [f for f in frames if f.time_s < 3.0]
    assert all(len(f.faces) == 1 for f in with_face)
    assert {f.faces[0].track for f in with_face} == {1}
    assert [f.faces[0].label for f in with_face] == [still.label] * len(with_face)
    assert all(f.faces == [] for f in frames if f.time_s >= 3.0)  # the cut to the coffee cup
    row = json.loads(frames[0].to_json())
    assert row["frame"] == 0 and row["faces"][0]["track"] == 1
    assert set(row["faces"][0]["probs"]) == set(predictor.classes)


def test_two_people_side_by_side_keep_their_own_ids(predictor, clips):
    frames = list(predictor.predict_video(clips["pair"], every_frame=True, smooth_s=0))
    assert len(frames) == 20 and all(len(f.faces) == 2 for f in frames)
    left = {min(f.faces, key=lambda face: face.box[0]).track for f in frames}
    right = {max(f.faces, key=lambda face: face.box[0]).track for f in frames}
    assert len(left) == 1 and len(right) == 1 and left != right


def test_two_shared_photos_side_by_side_keep_their_labels(predictor, tmp_path):
    photos = shared_path("photos")
    left = Image.open(photos / "happy-baby.jpeg").convert("RGB")
    right = Image.open(photos / "angry.jpg").convert("RGB")
    left, right = (p.resize((round(p.width * 220 / p.height), 220)) for p in (left, right))
    expected = {"left": predictor.predict(left).label, "right": predictor.predict(right).label}
    assert expected == {"left": "laughing", "right": "angry"}
    frames = list(predictor.predict_video(write_clip(tmp_path / "two.mkv", side_by_side(12, left, right), FPS),
                                          every_frame=True))
    for f in frames:
        faces = sorted(f.faces, key=lambda face: face.box[0])
        assert [face.label for face in faces] == [expected["left"], expected["right"]], f.time_s
    assert len({face.track for f in frames for face in f.faces}) == 2


def test_cli_writes_jsonl_csv_timeline_and_an_annotated_video(clips, tmp_path):
    out, annotated = tmp_path / "out", tmp_path / "annotated.mp4"
    res = CliRunner().invoke(app, ["predict", str(clips["moving"]), "--out", str(out), "--annotate", str(annotated),
                                   "--fps", "2", "--json"])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in (out / "moving" / "frames.jsonl").read_text().splitlines()]
    assert [json.loads(line) for line in res.stdout.splitlines()] == rows  # --json: the same lines on stdout
    assert len(rows) == 8 and [r["time_s"] for r in rows] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5]
    assert all(r["faces"][0]["track"] == 1 for r in rows[:6]) and rows[6]["faces"] == rows[7]["faces"] == []
    with (out / "moving" / "tracks.csv").open() as f:
        tracks = list(csv.DictReader(f))
    assert len(tracks) == 1 and tracks[0]["track"] == "1" and tracks[0]["n_frames"] == "6"
    assert float(tracks[0][tracks[0]["dominant"]]) == 1.0 and tracks[0]["start_s"] == "0.000"
    assert Image.open(out / "moving" / "timeline.png").size[0] > 400
    cap = cv2.VideoCapture(str(annotated))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 8 and cap.get(cv2.CAP_PROP_FPS) == 2
    ok, first = cap.read()
    assert ok and first.shape == (480, 640, 3)
    assert "1 person\n" in res.stderr and "#1: 0.0-2.5 s, 6 frames, mostly" in res.stderr


def _truncated(clip: Path, tmp_path: Path) -> Path:
    data = clip.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    return tmp_path / "cut.mp4"


@pytest.mark.parametrize("make", [
    lambda clip, tmp: (tmp / "notes.mp4").write_text("not a video\n" * 50) and tmp / "notes.mp4",
    _truncated,
    lambda clip, tmp: (tmp / "empty.mp4").write_bytes(b"") or tmp / "empty.mp4",
    lambda clip, tmp: write_y4m(tmp / "no_frames.y4m", []),
    lambda clip, tmp: tmp / "missing.mov",
], ids=["not-a-video", "truncated", "zero-bytes", "zero-frames", "missing"])
def test_bad_videos_are_one_line_errors(make, clips, tmp_path):
    bad = make(clips["moving"], tmp_path)
    res = CliRunner().invoke(app, ["predict", str(bad), "--out", str(tmp_path / "out")])
    assert res.exit_code == 3, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"facexp: VideoDecodeError: {bad}: "), res.output
    assert not (tmp_path / "out").exists()


def test_a_four_hour_clip_at_a_high_fps_is_refused_before_any_work(tmp_path):
    long = tmp_path / "four_hours.mp4"
    writer = cv2.VideoWriter(str(long), cv2.VideoWriter_fourcc(*"mp4v"), 10, (16, 16))
    frame = np.zeros((16, 16, 3), np.uint8)
    for _ in range(4 * 3600 * 10):
        writer.write(frame)
    writer.release()
    res = CliRunner().invoke(app, ["predict", str(long), "--fps", "30", "--out", str(tmp_path / "out")])
    assert res.exit_code == 3
    assert res.output.startswith(f"facexp: VideoTooLong: {long}: 4.0 h at 10 frames/s is 144,000 frames, over the "
                                 "limit of 100,000; lower --fps (at most 6.9 for this clip)"), res.output
    assert FrameReader(long, fps=1).n_samples == 4 * 3600  # a sensible rate is accepted
    with pytest.raises(VideoTooLong):
        FrameReader(long, fps=1, max_frames=1000)


def test_a_truncated_avi_keeps_what_it_could_read_and_says_so(predictor, clips, tmp_path):
    data = clips["pair"].read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    report = analyse_video(predictor, cut, tmp_path / "out", every_frame=True)
    assert 0 < report.n_frames < 20 and len(report.tracks) == 2
    assert "truncated or damaged" in report.warnings[0]
    assert len((tmp_path / "out" / "frames.jsonl").read_text().splitlines()) == report.n_frames


def test_ctrl_c_leaves_every_output_complete(clips, tmp_path):
    """A real SIGINT to `facexp predict clip.mp4` part-way through: exit 130, and the JSONL, CSV, plot
    and annotated video all cover the frames done. The child also reports whether torch got imported."""
    clip = write_clip(tmp_path / "long.mp4", moving_face(60, x1=120) * 3, FPS)
    out, annotated = tmp_path / "out", tmp_path / "a.avi"
    code = ("import sys; from facexp.cli import app\n"
            "try:\n    app(sys.argv[1:])\n"
            "finally:\n    print('torch' in sys.modules, file=sys.stderr)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", code, "predict", str(clip), "--every-frame", "--out", str(out),
                             "--annotate", str(annotated)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    jsonl = out / "long" / "frames.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        if jsonl.exists() and len(jsonl.read_text().splitlines()) >= 10:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted at" in err and err.strip().endswith("False")  # no torch on the video path
    rows = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert 10 <= len(rows) < 180
    with (out / "long" / "tracks.csv").open() as f:
        assert sum(int(r["n_frames"]) for r in csv.DictReader(f)) == sum(len(r["faces"]) for r in rows)
    Image.open(out / "long" / "timeline.png").verify()
    cap = cv2.VideoCapture(str(annotated))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == len(rows)


def test_tracker_follows_a_fast_face_and_starts_a_new_id_after_a_gap():
    tracker = FaceTracker()
    ids = [tracker.update([(10 + 70 * i, 100, 60, 60)], i * 0.25) for i in range(6)]  # > one face width per step
    assert ids == [[1]] * 6
    assert tracker.update([(500, 100, 60, 60)], 3.0) == [2]  # unseen for 1.75 s: a new person
    assert tracker.update([(505, 100, 60, 60), (100, 300, 40, 40)], 3.25) == [2, 3]
    # an unsure detection continues a track but never starts one (the detector's false faces score ~0.9)
    assert tracker.update([(510, 100, 60, 60), (300, 300, 20, 28)], 3.5, [0.91, 0.92]) == [2, None]


def test_smoothing_follows_real_time_not_the_frame_count():
    at_2fps, at_8fps = ProbSmoother(0.5), ProbSmoother(0.5)
    for s in (at_2fps, at_8fps):
        s.update(1, np.array([1.0, 0.0]), 0.0)
    a = at_2fps.update(1, np.array([0.0, 1.0]), 0.5)
    for k in range(1, 5):
        b = at_8fps.update(1, np.array([0.0, 1.0]), k * 0.125)
    assert a[1] == pytest.approx(1 - np.exp(-1)) and b[1] == pytest.approx(a[1])


def test_background_alone_has_no_face(predictor):
    assert predictor.predict(background()).faces == []


def test_the_readme_video_block_runs(clips, tmp_path, monkeypatch, capsys):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = re.search(r"```python\n(.*?)```", readme.split("### Video and live webcam", 1)[1], re.S).group(1)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "clip.mp4").write_bytes(clips["moving"].read_bytes())
    exec(compile(block, "README.md", "exec"), {})
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 16 and re.fullmatch(r"0\.00 \[\(1, '\w+', 0\.\d+\)\]", lines[0]) and lines[-1].endswith(" []")
