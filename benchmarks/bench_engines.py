"""Prediction speed with each inference engine, side by side: PyTorch vs ONNX Runtime fp32 and int8 (issue 15),
and the default model and code the issue measured ("today", commit e9b7388: four networks on PyTorch).

    .venv/bin/python benchmarks/bench_engines.py [--model DIR] [--runs 20] [--cold 3] [--quant] [--baseline COMMIT|none]

For each engine (``Predictor(engine=...)``, ``facexp predict --engine ...``: ``torch``, ``onnx-fp32`` and
``onnx``, which runs the int8 graph where the model ships int8 ranges and the CPU has int8 dot products;
its column says which it ran), in one run:
  * ``facexp predict photo.jpg`` wall time in a fresh process (1-face photo; the ONNX graph
    already cached, as on every run after the first), median of ``--cold`` runs;
  * ``Predictor.predict`` p50 on the 1-face 1280x853 photo (surprised.jpeg) and on the group photo;
  * ``Predictor.classify`` on 64 face crops (img/s) and on one crop (ms), preprocessing included;
  * building the Predictor in a warm process (model card + engine), and, for ONNX, the one-time
    export of the graph into an empty cache.
The ``Predictor`` timings of each engine come from its own processes, the engines' processes taking
turns (``--rounds``): the ONNX Runtime engine's in a process that never loads torch, as in
``facexp predict`` and the server (run in one process, PyTorch's calls slowed the ONNX calls after
them: 1 crop 3.05 ms right after a PyTorch call, 2.05 ms after its own).
The issue's own default runs in the same turns (``--baseline``, ``_baseline.py``), and the last column is
its time over the shipped engine's: the figure that carries from one machine to another.

``--quant`` adds ONNX Runtime's own options on the raw network: graph optimisation levels and int8
quantisation (dynamic, and static QDQ calibrated on 256 FER2013 train crops), with FER2013 test
8-class accuracy for each (needs ../shared/data/fer2013).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import _baseline
from _machine import machine_line, median_ms, write_result
from facexp.imageio import open_image
from facexp.predict import Predictor, default_model_dir

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
ENGINES = ("torch", "onnx-fp32", "onnx")
WARMUP = 5  # untimed calls per measure in a timing process: its first calls fault in memory and fill caches


def fer_crops(split: str, n: int, seed: int = 0) -> list[Path]:
    paths = sorted((SHARED / "fer2013" / split).glob("*/*.jpg"))
    random.Random(seed).shuffle(paths)
    return paths[:n]


def cold_cli(model: Path | None, photo: Path, engine: str, runs: int, baseline: Path | None = None) -> float:
    """Median wall seconds of `facexp predict PHOTO --engine E` in a new process (the baseline's code has
    no engines: ``engine`` is then ignored)."""
    exe = Path(sys.executable).with_name("facexp")
    cmd = [str(exe), "predict", *([str(model)] if model else []), str(photo), "--json"]
    cmd += ["--engine", engine] if engine != "baseline" else []
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, env=_env(engine, baseline))
        times.append(time.perf_counter() - t0)
        if out.returncode != 0:
            raise RuntimeError(out.stderr[-2000:])
    return statistics.median(times)


def _env(engine: str, baseline: Path | None) -> dict[str, str] | None:
    """The environment of a process timing ``engine``: the baseline's code first on the path."""
    return _baseline.env(baseline) if engine == "baseline" and baseline else None


def first_export_s(model: Path | None) -> float:
    """Seconds to export + check the ONNX graph into an empty cache (happens once per model)."""
    with tempfile.TemporaryDirectory() as cache:
        old = os.environ.get("FACEXP_CACHE_DIR")
        os.environ["FACEXP_CACHE_DIR"] = cache
        try:
            t0 = time.perf_counter()
            Predictor(model, engine="onnx")
            return time.perf_counter() - t0
        finally:
            if old is None:
                del os.environ["FACEXP_CACHE_DIR"]
            else:
                os.environ["FACEXP_CACHE_DIR"] = old


def _paired_ms(fns: dict[str, object], runs: int, warmup: int = 2, block: int = 5) -> dict[str, float]:
    """Median ms per engine, the engines taking turns in blocks of ``block`` timed calls so that load
    changes hit both alike. Each turn starts with an untimed call: PyTorch's idle threads keep spinning
    for a while after its calls, and one-by-one alternation charged that to the next engine (ONNX
    Runtime's 1-crop call measured 3.05 ms right after PyTorch's, 2.05 ms after its own)."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for start in range(0, runs, block):
        for name, fn in fns.items():
            fn()
            for _ in range(min(block, runs - start)):
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) * 1e3 for name, t in times.items()}


def engine_rows(model: Path | None, runs: int, cold: int, rounds: int, baseline: Path | None
                ) -> dict[str, dict[str, float]]:
    engines = (*ENGINES, "baseline") if baseline else ENGINES
    out: dict[str, dict[str, float]] = {e: {} for e in engines}
    for _ in range(cold):  # fresh processes, alternating engines
        for engine in engines:
            out[engine].setdefault("cli_runs", []).append(
                cold_cli(model, SHARED / "photos" / "surprised.jpeg", engine, 1, baseline))
    times: dict[str, dict[str, list[float]]] = {e: {} for e in engines}
    for _ in range(rounds):
        for engine in engines:
            cmd = [sys.executable, __file__, "--worker", engine, "--runs", str(max(1, runs // rounds)),
                   *(["--model", str(model)] if model and engine != "baseline" else [])]
            done = subprocess.run(cmd, capture_output=True, text=True, env=_env(engine, baseline))
            if done.returncode != 0:
                raise RuntimeError(done.stderr[-2000:])
            for key, values in json.loads(done.stdout.splitlines()[-1]).items():
                times[engine].setdefault(key, []).extend(values)
    for engine in engines:
        out[engine].update({key: statistics.median(values) for key, values in times[engine].items()})
        out[engine]["b64"] = 64 / (out[engine]["b64"] / 1e3)
        out[engine]["cli"] = statistics.median(out[engine].pop("cli_runs"))
    out["onnx"]["export"] = first_export_s(model)
    return out


def worker(engine: str, model: Path | None, runs: int) -> dict[str, list[float]]:
    """One engine's ``Predictor`` timings (ms; "build" in s, "n_group" a count) in this process; "baseline"
    is the baseline's own default model and code (``_env`` put them first on the path)."""
    photos = SHARED / "photos"
    one, group = open_image(photos / "surprised.jpeg"), open_image(photos / "group.jpeg")
    crops = [open_image(p) for p in fer_crops("test", 64)]
    build = (lambda: Predictor()) if engine == "baseline" else (lambda: Predictor(model, engine=engine))  # noqa: E731
    build()  # graph in the cache, files in the OS cache
    t0 = time.perf_counter()
    predictor = build()
    out = {"build": [time.perf_counter() - t0], "n_group": [len(predictor.predict(group).faces)],
           "int8": [float(getattr(getattr(predictor, "engine", None), "precision", "") == "int8")]}
    measures = {"one": (lambda: predictor.predict(one), runs),
                "group": (lambda: predictor.predict(group), runs),
                "b64": (lambda: predictor.classify(crops), max(2, runs // 4)),
                "b1": (lambda: predictor.classify(crops[:1]), runs * 3)}
    for key, (fn, n) in measures.items():
        for _ in range(WARMUP):
            fn()
        out[key] = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            out[key].append((time.perf_counter() - t0) * 1e3)
    return out


def detector_rows(model: Path | None, runs: int) -> list[str]:
    """MTCNN as facenet-pytorch runs it (``detect_face``, PyTorch; facexp's detector until 2026-11-29) vs
    facexp's ONNX Runtime cascade, with the model card's face settings, interleaved."""
    import torch
    from facenet_pytorch import MTCNN
    from facenet_pytorch.models.utils.detect_face import detect_face

    from facexp.faces.backends.mtcnn import detect_one, load_cascade
    from facexp.faces.detect import _as_rgb_array, _downscaled

    settings = Predictor(model)._face_settings
    reference = MTCNN(keep_all=True, device="cpu").eval().to(memory_format=torch.channels_last)
    cascade = load_cascade()
    lines = ["| photo (downscaled to the card's max_side) | faces (PyTorch / ONNX) | facenet-pytorch, PyTorch, ms "
             "| facexp cascade, ONNX Runtime, ms | speed-up |", "|---|---|---|---|---|"]
    for name in ("surprised.jpeg", "group.jpeg"):
        img = _downscaled(_as_rgb_array(open_image(SHARED / "photos" / name)), settings.max_side)[0]

        def torch_detect():
            with torch.inference_mode():
                return detect_face(img[None], settings.min_face, reference.pnet, reference.rnet, reference.onet,
                                   list(settings.stage_scores), 0.709, "cpu")[0][0]

        def onnx_detect():
            return detect_one(cascade, img, settings.min_face, tuple(settings.stage_scores))[0]

        counts = (len(torch_detect()), len(onnx_detect()))
        ms = _paired_ms({"torch": torch_detect, "onnx": onnx_detect}, runs)
        lines.append(f"| {name} {img.shape[1]}x{img.shape[0]} | {counts[0]} / {counts[1]} | {ms['torch']:.0f} | "
                     f"{ms['onnx']:.0f} | {ms['torch'] / ms['onnx']:.2f}x |")
    return lines


def decode_rows(model: Path | None, runs: int) -> list[str]:
    """A phone-sized JPEG (surprised.jpeg enlarged to 4032x2688, quality 92) decoded whole vs at the JPEG
    DCT scale the Predictor uses when it looks for faces (``DECODE_MAX_SIDE``), interleaved."""
    from facexp.predict import predictor as predictor_module

    shipped = predictor_module.DECODE_MAX_SIDE
    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "phone.jpg"
        open_image(SHARED / "photos" / "surprised.jpeg").resize((4032, 2688)).save(photo, quality=92)
        predictor = Predictor(model, engine="onnx")

        def at(side: int):
            def run():
                predictor_module.DECODE_MAX_SIDE = side
                try:
                    return predictor.predict(photo)
                finally:
                    predictor_module.DECODE_MAX_SIDE = shipped
            return run

        arms = {"whole": at(10**6), "reduced": at(shipped)}
        answers = {name: fn().faces[0] for name, fn in arms.items()}
        ms = _paired_ms(arms, runs)
    same = answers["whole"].label == answers["reduced"].label
    return [f"A 12-megapixel phone photo (surprised.jpeg enlarged to 4032x2688, JPEG): `Predictor.predict` "
            f"{ms['whole']:.0f} ms decoding it whole, {ms['reduced']:.0f} ms decoding it at the JPEG DCT scale "
            f"that keeps its longer side ≥ {shipped} px (2016 px; shipped), {ms['whole'] / ms['reduced']:.2f}x; "
            f"{'the same label' if same else 'different labels'} ({answers['whole'].label} "
            f"{answers['whole'].confidence:.3f} / {answers['reduced'].label} {answers['reduced'].confidence:.3f}), "
            f"boxes {answers['whole'].box} / {answers['reduced'].box}."]


# --- ONNX Runtime options on the raw network --------------------------------------------------------


def quant_rows(model: Path | None, runs: int) -> list[str]:
    import onnxruntime as ort
    import torch
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recipes"))
    from fer8 import fer_manifest

    predictor = Predictor(model, engine="onnx")
    bundle, graph = predictor.bundle, str(predictor.engine.graph)
    calib = predictor_input(bundle, fer_crops("train", 256, seed=1))

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"image": calib[i:i + 32]} for i in range(0, len(calib), 32)])

        def get_next(self):
            return next(self.batches, None)

    tmp = Path(tempfile.mkdtemp())
    pre = tmp / "pre.onnx"
    quant_pre_process(graph, str(pre), skip_symbolic_shape=True)
    quantize_dynamic(str(pre), str(tmp / "dynamic.onnx"), weight_type=QuantType.QInt8, per_channel=True)
    quantize_static(str(pre), str(tmp / "static.onnx"), Reader(), per_channel=True, quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    variants = {"fp32, no graph optimisation": (graph, "ORT_DISABLE_ALL"),
                "fp32, basic optimisation": (graph, "ORT_ENABLE_BASIC"),
                "fp32, full optimisation (the engine)": (graph, "ORT_ENABLE_ALL"),
                "int8 dynamic (weights int8, activations per batch)": (str(tmp / "dynamic.onnx"), "ORT_ENABLE_ALL"),
                "int8 static QDQ (256 calibration crops)": (str(tmp / "static.onnx"), "ORT_ENABLE_ALL")}
    fer = SHARED / "fer2013"
    test = fer_manifest(fer, "test", laughing=True)
    y = np.array([bundle.classes.index(c) for c in test["label"]])
    xs = [predictor_input(bundle, [fer / p for p in test["path"][i:i + 512]]) for i in range(0, len(test), 512)]
    x64, x1 = xs[0][:64], xs[0][:1]
    lines = ["| ONNX Runtime variant | batch 64 img/s | batch 1 ms | FER2013 test 8-class accuracy | agrees with fp32 |",
             "|---|---|---|---|---|"]
    reference = None
    for name, (path, level) in variants.items():
        opts = ort.SessionOptions()
        opts.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
        opts.intra_op_num_threads = torch.get_num_threads()
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        run = lambda x: session.run(None, {"image": x})[0]  # noqa: E731
        ips = 64 / (median_ms(lambda: run(x64), max(5, runs // 2)) / 1e3)
        ms = median_ms(lambda: run(x1), runs * 3)
        pred = np.concatenate([run(x).argmax(1) for x in xs])
        reference = pred if reference is None else reference
        lines.append(f"| {name} | {ips:.0f} | {ms:.1f} | {np.mean(pred == y):.4f} | {np.mean(pred == reference):.4f} |")
    return lines


def predictor_input(bundle, paths: list[Path]) -> np.ndarray:
    from facexp.preprocess import to_array

    return to_array([open_image(p) for p in paths], bundle.image)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", type=Path, default=None, help="model directory (default: the shipped model)")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--cold", type=int, default=3, help="fresh `facexp predict` processes per engine")
    ap.add_argument("--quant", action="store_true", help="also measure ORT optimisation levels and int8 variants")
    ap.add_argument("--rounds", type=int, default=2, help="turns of each engine's timing process")
    ap.add_argument("--result", default="engines")
    ap.add_argument("--baseline", default=_baseline.COMMIT,
                    help="commit whose default model and code are timed beside the engines ('none': skip)")
    ap.add_argument("--worker", choices=(*ENGINES, "baseline"), help=argparse.SUPPRESS)  # one engine's timings, as JSON
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.model, args.runs)))
        return
    model_dir = args.model or default_model_dir()
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="facexp-baseline-") as tmp:
        baseline = None if args.baseline == "none" else _baseline.unpack(args.baseline, Path(tmp))
        r = engine_rows(args.model, args.runs, args.cold, args.rounds, baseline)
    t, f, o = r["torch"], r["onnx-fp32"], r["onnx"]
    old = r.get("baseline")
    precision = "int8" if o["int8"] else "fp32: no int8 ranges in the model or no int8 dot products on this CPU"

    def row(name: str, key: str, fmt: str, target: str, better=min) -> str:
        ratio = lambda a, b: a / b if better is min else b / a  # noqa: E731
        then = f" {fmt.format(old[key])} | {ratio(old[key], o[key]):.2f}x |" if old else ""
        return (f"| {name} | {fmt.format(t[key])} | {fmt.format(f[key])} | {fmt.format(o[key])} | "
                f"{ratio(t[key], f[key]):.2f}x | {ratio(f[key], o[key]):.2f}x |{then} {target} |")

    label = _baseline.LABEL.replace(_baseline.COMMIT, args.baseline)
    then = (f" {label} | `onnx` vs the issue's default |", "---|---|") if old else ("", "")
    lines = [f"Prediction with each engine, model `{model_dir.name}`, {os.cpu_count()} cores, "
             f"load average before the run {load[0]:.1f}. {machine_line()}", "",
             f"| measure | PyTorch | ONNX Runtime fp32 | ONNX Runtime, `--engine onnx` ({precision}) | fp32 vs PyTorch "
             f"| `onnx` vs fp32 |{then[0]} target (issue 15) |", f"|---|---|---|---|---|---|{then[1]}---|",
             row("`facexp predict surprised.jpeg` in a new process, s", "cli", "{:.2f}", "≤ 2.5 s"),
             row("`Predictor.predict`, 1-face 1280x853 photo, p50 ms", "one", "{:.0f}", "≤ 30 ms; 2.7x faster than the issue's default"),
             row(f"`Predictor.predict`, group photo ({o['n_group']:.0f} faces), p50 ms", "group", "{:.0f}",
                 "≤ 60 ms (the issue measured 171 ms: 2.85x)"),
             row("`Predictor.classify`, 64 crops, img/s", "b64", "{:.0f}", "1,000 img/s", better=max),
             row("`Predictor.classify`, 1 crop, ms", "b1", "{:.1f}", "≤ 2 ms"),
             row("building the Predictor (warm process), s", "build", "{:.2f}", "-"),
             "", f"One-time export of the ONNX graph (+ parity check, + the int8 graph where it runs) into an empty "
             f"cache: {o['export']:.1f} s. "
             f"`Predictor` rows: medians of {args.runs} runs per engine (classify 64 crops: "
             f"{args.rounds * max(2, args.runs // args.rounds // 4)}; 1 crop: {args.runs * 3}), each engine timed "
             f"in its own processes ({args.rounds} per engine, taking turns, {WARMUP} warm-up calls per measure; the ONNX "
             "Runtime engines' never load torch, as in `facexp predict`); "
             f"`facexp predict`: median of {args.cold} processes. All engines detect faces with facexp's MTCNN "
             "cascade on ONNX Runtime; the engine is the expression network's.", "",
             "Face detection alone, MTCNN candidates before the card's `min_score` filter (same weights, same "
             "stage thresholds):", "", *detector_rows(args.model, args.runs), "", *decode_rows(args.model, args.runs)]
    if args.quant:
        lines += ["", "ONNX Runtime options on the raw network (normalised input, no preprocessing):", "",
                  *quant_rows(args.model, args.runs)]
    write_result(args.result, lines)


if __name__ == "__main__":
    main()
