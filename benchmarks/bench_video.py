"""Video speed and tracking (issue 19): frames processed per second on a 640x480 clip, one face and five.

    .venv/bin/python benchmarks/bench_video.py [--seconds 8] [--engines onnx,torch]

Two clips are made here from scikit-image's astronaut (a real face photo), 640x480 at 25 fps, mp4v:
one head drifting across the frame, and five heads in a row, each bobbing on its own (they never
cross). For each clip and engine, ``Predictor.predict_video(clip, every_frame=True)`` runs over every
frame (decode, MTCNN on ONNX Runtime, the classifier, tracking, smoothing) and the table gives
frames per second, the classifier's time per frame, and whether every person kept one track id
from the first frame to the last. ONNX Runtime (issue 15's engine, the default) goes first, before
torch is imported, with its default threads (the 2 cores), searching 2 frames for faces at once
(the default) and then 1 at a time; the torch engine then runs with 2 torch threads. Decoding
alone is timed too, and the default sampling (4 frames/s) is given as seconds of work per minute
of clip.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from skimage.data import astronaut

from _machine import machine_line, write_result

SIZE = (640, 480)
FPS = 25


def heads(height: int) -> Image.Image:
    head = Image.fromarray(astronaut()).crop((110, 0, 350, 300))
    return head.resize((round(head.width * height / head.height), height), Image.BICUBIC)


def make_clip(path: Path, n_faces: int, seconds: float) -> Path:
    """``n_faces`` astronaut heads on a noisy grey canvas; one drifts across, five bob in a row."""
    rng = np.random.default_rng(0)
    head = heads(200 if n_faces == 1 else 150)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, SIZE)
    n = round(seconds * FPS)
    for i in range(n):
        canvas = np.full((SIZE[1], SIZE[0], 3), (96, 104, 116), np.float32) + rng.normal(0, 6, (SIZE[1], SIZE[0], 3))
        frame = Image.fromarray(canvas.clip(0, 255).astype(np.uint8))
        if n_faces == 1:
            frame.paste(head, (round(40 + 360 * i / n), 140))
        else:
            for k in range(n_faces):
                dy = round(25 * np.sin(i / 6 + k))
                frame.paste(head if k % 2 else head.transpose(Image.Transpose.FLIP_LEFT_RIGHT), (4 + 127 * k, 160 + dy))
        writer.write(cv2.cvtColor(np.asarray(frame), cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def decode_fps(path: Path) -> float:
    cap = cv2.VideoCapture(str(path))
    t0, n = time.perf_counter(), 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        n += 1
    return n / (time.perf_counter() - t0)


def run(predictor, path: Path, n_faces: int, **kw) -> dict:
    t0 = time.perf_counter()
    frames = list(predictor.predict_video(path, **kw))
    seconds = time.perf_counter() - t0
    found = [len(f.faces) for f in frames]
    by_slot: dict[int, set[int]] = {}
    for f in frames:  # the persons never cross: left-to-right order names them
        for slot, face in enumerate(sorted(f.faces, key=lambda face: face.box[0])):
            if len(f.faces) == n_faces:
                by_slot.setdefault(slot, set()).add(face.track)
    kept = len(by_slot) == n_faces and all(len(ids) == 1 for ids in by_slot.values())
    tracks = len({face.track for f in frames for face in f.faces})
    return {"fps": len(frames) / seconds, "n": len(frames), "seconds": seconds,
            "classify_ms": statistics.median(f.timings_ms["classify"] for f in frames),
            "found": sum(n == n_faces for n in found) / len(found), "kept": kept, "tracks": tracks}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="length of each clip")
    parser.add_argument("--repeats", type=int, default=3, help="rounds; the table gives the median")
    parser.add_argument("--engines", default="onnx,onnx-1,torch",
                        help="configurations, onnx first; onnx-1: faces searched one frame at a time")
    args = parser.parse_args()
    loads = [os.getloadavg()[0]]
    import facexp.predict.video as video
    from facexp.predict import Predictor

    configs = [(name, *name.partition("-")[::2]) for name in args.engines.split(",")]
    predictors = {}
    for _, engine, _ in configs:  # ONNX sessions first, before torch is imported (their threads: the 2 cores)
        if engine not in predictors:
            if engine == "torch":
                import torch

                torch.set_num_threads(2)
            predictors[engine] = Predictor(engine=engine)
    runs: dict[tuple[str, int], list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        clips = {n: make_clip(Path(tmp) / f"faces{n}.mp4", n, args.seconds) for n in (1, 5)}
        decode = decode_fps(clips[1])
        for _ in range(args.repeats):  # configurations interleaved, so a burst of load hits them alike
            for name, engine, threads in configs:
                video.DETECT_THREADS = int(threads or 2)
                for n, path in clips.items():
                    list(itertools.islice(predictors[engine].predict_video(path, fps=2), 4))  # warm-up
                    runs.setdefault((name, n), []).append(run(predictors[engine], path, n, every_frame=True))
            loads.append(os.getloadavg()[0])
    rows = []
    for (name, n), results in runs.items():
        engine, _, threads = name.partition("-")
        fps = statistics.median(r["fps"] for r in results)
        spread = f"{min(r['fps'] for r in results):.1f}-{max(r['fps'] for r in results):.1f}"
        last = results[-1]
        kept = all(r["kept"] for r in results)
        rows.append(f"| {n} | {engine} | {threads or 2} | **{fps:.1f}** ({spread}) | "
                    f"{statistics.median(r['classify_ms'] for r in results):.1f} | {last['found']:.0%} | "
                    f"{last['tracks']} ({'kept' if kept else 'NOT kept'}) | {60 * 4 / fps:.0f} |")
    lines = [f"Frames of a {SIZE[0]}x{SIZE[1]} clip processed per second (decode, face detection, classification, "
             f"tracking, smoothing), {args.seconds:g} s at {FPS} fps per clip, made from scikit-image's astronaut; "
             f"median of {args.repeats} interleaved rounds (range in brackets); load average "
             f"{min(loads):.1f}-{max(loads):.1f} during the run. "
             f"{machine_line()}", "",
             "| faces | engine | frames searched at once | frames/s, every frame | classify ms/frame | frames with "
             "every face found | people (track ids kept from first to last frame?) | s of work per minute of clip "
             "at the default 4 fps |",
             "|---|---|---|---|---|---|---|---|", *rows, "",
             f"Decoding alone (OpenCV/FFmpeg, mp4v, BGR→RGB): {decode:.0f} frames/s. Face detection is the MTCNN "
             "cascade on ONNX Runtime for every engine; the engine column is the expression network's (onnx: issue "
             "15's default). The last column is 240 / frames/s (sampling skips decoded frames at ~1 ms each). "
             "Tracker: IoU with motion prediction and ByteTrack's score rule (facexp.predict.tracker); the five "
             "people bob 25 px and never cross."]
    write_result("video", lines)


if __name__ == "__main__":
    main()
