"""The `facexp` command: one verb per stage; each verb parses, calls the stage's API and renders.

Heavy libraries (torch, fastai) are imported inside the verbs so `facexp --help` stays fast.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer

from ._cli import JourneyGroup, friendly_errors, plain_help
from ._plural import counted
from .checks import interval_text

plain_help()
app = typer.Typer(cls=JourneyGroup, add_completion=False, no_args_is_help=True,
                  help="Facial-expression classifiers: collect photos, find faces, train, evaluate, predict, serve.")
TTA_HELP = "Average over 4 views: as is, mirrored, zoomed 1.09x, both (4x slower)."
ENGINE_HELP = ("Inference engine: onnx (ONNX Runtime; graph exported once per model and cached; int8 where the "
               "model ships int8 ranges and the CPU has int8 dot products), onnx-fp32 (never int8) or torch.")


def _version(show: bool) -> None:
    if show:
        from . import __version__

        typer.echo(f"facexp {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print facexp's version and exit.")] = False,
) -> None:
    """Every verb: warnings the user can act on read 'warning: ...'; the libraries' notes to their own
    developers (torch.jit and pandas deprecations inside fastai, timm) are not shown."""
    warnings.formatwarning = lambda msg, category, *a, **k: f"warning: {msg}\n"
    for noisy in ("torch", "timm", "fastai"):
        warnings.filterwarnings("ignore", module=noisy)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="torch")


def _setup_logging(verbose: bool) -> None:
    from rich.logging import RichHandler
    from rich.console import Console

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s", force=True,
                        handlers=[RichHandler(console=Console(stderr=True), show_path=False, show_time=False)])


def _split_classes(classes: Optional[str]) -> Optional[list[str]]:
    return [c.strip() for c in classes.split(",") if c.strip()] if classes else None


@app.command()
@friendly_errors(interrupted="training interrupted: rerun the same command with --resume to continue after the last saved epoch")
def train(
    data: Annotated[Path, typer.Argument(help="Class sub-folders, or a manifest CSV: path,label[,split], or path[,split] and one probability column per class.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory; the model goes to OUT/model.")] = Path("runs/train"),
    arch: Annotated[str, typer.Option(help="Backbone: efficientnet_lite0 (offline weights), tiny_cnn, or any torchvision/timm name.")] = "efficientnet_lite0",
    size: Annotated[Optional[int], typer.Option(help="Input size in pixels (square); default 224 from pretrained weights on up to 5,000 images, else 96; or the --from model's.")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Epochs after the frozen ones; default 5, up to 25 on small data.")] = None,
    bs: Annotated[Optional[int], typer.Option(help="Batch size; default 64, smaller on small data.")] = None,
    freeze_epochs: Annotated[Optional[int], typer.Option(help="Frozen-body epochs first; default: a fifth of --epochs on small data or with --from, else 0.")] = None,
    lr: Annotated[Optional[float], typer.Option(help="Learning rate; default: lr_find's suggestion within [1e-3, 1e-2] (plot saved), 2e-3 if its curve is unreadable, 1e-3 with --from.")] = None,
    valid_pct: Annotated[float, typer.Option(help="Held-out fraction when the data has no split column.")] = 0.2,
    test: Annotated[Optional[Path], typer.Option("--test", help="Test data (class sub-folders or a manifest CSV), written to OUT/test.csv for `facexp evaluate OUT`.")] = None,
    test_pct: Annotated[float, typer.Option(help="Without --test or split=test rows: hold out this fraction of each class (5+ images) as OUT/test.csv; 0: none.")] = 0.1,
    seed: Annotated[int, typer.Option(help="Random seed (split, init, augmentation).")] = 42,
    classes: Annotated[Optional[str], typer.Option(help="Train on a subset, e.g. happy,sad,surprise.")] = None,
    grayscale: Annotated[Optional[bool], typer.Option("--grayscale/--color", help="Colour mode; default: detected from the data.")] = None,
    balance: Annotated[str, typer.Option(help="Class imbalance: weighted-loss, sampler or none.")] = "weighted-loss",
    pretrained: Annotated[bool, typer.Option("--pretrained/--no-pretrained", help="Start from ImageNet weights.")] = True,
    mixup: Annotated[float, typer.Option(help="MixUp alpha (e.g. 0.4) against noisy labels in long runs; 0 is off.")] = 0.0,
    init_from: Annotated[str, typer.Option("--from", help="Start from: auto (the shipped expression model when it knows at least half of the class names or the images are face crops from `facexp faces`, else ImageNet), imagenet, default, or a facexp model directory.")] = "auto",
    detect_faces: Annotated[bool, typer.Option("--detect-faces", help="Data are raw photos: detect and crop faces first (cached).")] = False,
    pkl: Annotated[bool, typer.Option("--pkl", help="Also write a fastai learner.pkl for continued training.")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Continue OUT's interrupted run after its last saved epoch (same DATA and options).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the summary: no per-epoch lines.")] = False,
):
    """Train an expression classifier with fastai and save a safe model directory.

    Runs unchanged under torchrun or accelerate launch (one process per GPU; --bs is per process;
    rank 0 writes the model and prints): see README, Scaling out.
    """
    _setup_logging(not quiet)
    from ._launch import is_main
    from .train import TrainConfig
    from .train import train as run_train

    faces = None
    if detect_faces:
        from .faces import FaceSettings, extract_faces
        from .train.distributed import rank0_first

        settings = FaceSettings()
        crops = out / "faces"
        rank0_first(lambda: extract_faces(data, crops, settings=settings))  # one process writes the crops
        data, faces = crops, settings.to_dict()
    cfg = TrainConfig(arch=arch, size=size, epochs=epochs, bs=bs, freeze_epochs=freeze_epochs, lr=lr, valid_pct=valid_pct, seed=seed,
                      classes=_split_classes(classes), grayscale=grayscale, balance=balance, pretrained=pretrained,
                      mixup=mixup, init_from=init_from, save_pickle=pkl, faces=faces,
                      test=str(test) if test is not None else None, test_pct=test_pct, resume=resume)
    result = run_train(data, out, cfg)
    if not is_main():  # under a launcher, rank 0 prints the summary
        return
    m = result.metrics
    n_valid = result.card["training"].get("n_valid")
    on = f" on {n_valid} images ({interval_text(m['valid_accuracy'], n_valid)})" if n_valid else ""
    typer.echo(f"model: {result.bundle_dir}\nvalid accuracy {m['valid_accuracy']:.4f}{on}, macro-F1 "
               f"{m['valid_macro_f1']:.4f} (best epoch {m['best_epoch']})")
    _print_start_notes(result.card)
    _print_run_notes(result.card, out)


def _print_start_notes(card: dict) -> None:
    """Where training started; from a facexp model, which weights were kept and that model restricted to
    these classes as a baseline."""
    record = card.get("training", {})
    start, baseline = record.get("start"), record.get("baseline")
    if record.get("start_from"):
        typer.echo(f"started from: {record['start_from']}")
    if start:
        typer.echo(f"kept: {start['kept']} (the starting weights scored valid accuracy {start['accuracy']:.4f})")
        if start.get("class_offsets") and start["kept"] != "starting model restricted":
            offsets = ", ".join(f"{c} {v:+.2f}" for c, v in start["class_offsets"].items())
            typer.echo(f"class offsets fitted to your training images (logits): {offsets}")
    if baseline:
        typer.echo(f"baseline: {baseline['note']}: valid accuracy {baseline['valid_accuracy']:.4f}, macro-F1 "
                   f"{baseline['valid_macro_f1']:.4f}")


def _print_run_notes(card: dict, out: Path) -> None:
    """The test split, the images left out, and any warning about the model, after training."""
    record = card.get("training", {})
    held = record.get("test")
    typer.echo(f"test split: {held['n']} images in {held['path']}; score them with `facexp evaluate {out}`" if held
               else "test split: none (too few images per class, or --test-pct 0); give `facexp evaluate` test data")
    int8 = record.get("int8", {})
    if int8.get("validation"):
        valid = int8["validation"]["valid"]
        typer.echo(f"int8: {'kept' if int8['kept'] else 'not kept'} (valid accuracy {valid['int8']:.4f} in int8, "
                   f"{valid['fp32']:.4f} in fp32){': predictions run in int8 on CPUs with int8 dot products' if int8['kept'] else ''}")
    skipped = record.get("data", {}).get("skipped", [])
    if skipped:
        typer.echo(f"{counted(len(skipped), 'image')} not used (listed in {out / 'model' / 'model.json'} under "
                   f"training.data.skipped): " + "; ".join(s["path"] for s in skipped[:10])
                   + (f"; and {len(skipped) - 10} more" if len(skipped) > 10 else ""))
    for warning in record.get("warnings", []):
        typer.secho(f"WARNING: {warning}", fg=typer.colors.YELLOW)


@app.command()
@friendly_errors
def evaluate(
    model: Annotated[str, typer.Argument(help="Run or model directory ('default' for the shipped model).")],
    data: Annotated[Optional[Path], typer.Argument(help="Labelled test data: class sub-folders or a manifest CSV; default: the run's test split (RUN/test.csv).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Report directory (report.html, metrics.json, PNGs); default: RUN/report, or runs/report.")] = None,
    detect: Annotated[bool, typer.Option("--detect/--no-detect", help="Detect faces in the test images first.")] = False,
    tta: Annotated[bool, typer.Option(help=TTA_HELP)] = False,
    classes: Annotated[Optional[str], typer.Option(help="Answer only among these classes.")] = None,
    trust_pickle: Annotated[bool, typer.Option("--trust-pickle", help="Allow a fastai .pkl model (unpickling can run code).")] = False,
    engine: Annotated[Optional[str], typer.Option(help=ENGINE_HELP)] = None,
):
    """Write an evaluation report: confusion matrix, per-class metrics, top losses, calibration."""
    _setup_logging(False)
    from .evaluate import evaluate as run_evaluate
    from .evaluate.run import run_test_split

    from_run = data is None and model != "default"
    if from_run:
        data = run_test_split(model)
        typer.echo(f"data: {data} (the test split training held out)")
    if out is None:
        out = data.parent / "report" if from_run else Path("runs/report")
    report = run_evaluate(None if model == "default" else model, data, out=out, detect=detect, tta=tta,
                          classes=_split_classes(classes), engine=engine, trust_pickle=trust_pickle)
    typer.echo(f"accuracy {report.accuracy:.4f} ({interval_text(report.accuracy, len(report.y_true))})  "
               f"macro-F1 {report.macro_f1:.4f}  n={len(report.y_true)}")
    for true, pred, n in report.most_confused(3):
        typer.echo(f"  most confused: {true} → {pred} ({n})")
    for warning in report.warnings():
        typer.secho(f"WARNING: {warning}", fg=typer.colors.YELLOW)
    typer.echo(f"report: {out / 'report.html'}")


MODEL_FILES = ("model.safetensors", "learner.pkl", "model.onnx", "export.pkl")


def _model_and_images(inputs: list[str], model: Optional[str]) -> tuple[Optional[str], list[str]]:
    """``--model`` (None: the shipped model) and the image arguments.

    Without ``--model``, a first argument that IS a model directory (it has model.json) or a .pkl
    is still taken as the model, with a deprecation note. A folder that looks like a model but is
    not one (model files but no model.json, e.g. only learner.pkl) is an error, never a folder of images.
    """
    if model is not None:
        _check_model_dir(model)
        return (None if model == "default" else model), inputs
    if not inputs:
        return None, inputs
    first = Path(inputs[0])
    if (first.is_dir() and (first / "model.json").exists()) or first.suffix == ".pkl":
        typer.echo(f"facexp: note: a model as the first argument is deprecated; use --model {inputs[0]}", err=True)
        return inputs[0], inputs[1:]
    _check_model_dir(inputs[0], positional=True)
    return None, inputs


def _check_model_dir(arg: str, *, positional: bool = False) -> None:
    """Refuse a directory holding model files but no model.json (it would load nothing, or be read as images)."""
    from .errors import ModelError

    p = Path(arg)
    if not p.is_dir() or (p / "model.json").exists():
        return
    if (p / "model" / "model.json").exists():
        raise ModelError(f"{p}: a training run, not a model directory; pass --model {p / 'model'}")
    found = [name for name in MODEL_FILES if (p / name).exists()] + sorted(q.name for q in p.glob("*.pkl")
                                                                          if q.name not in MODEL_FILES)
    if found:
        hint = (f"; to load a fastai pickle: --model {p / found[0]} --trust-pickle" if found[0].endswith(".pkl")
                else "")
        raise ModelError(f"{p}: has {', '.join(found)} but no model.json, so it is not a facexp model directory"
                         f"{' (and not a folder of images)' if positional else ''}; pass the folder "
                         f"`facexp train` wrote (model.json + model.safetensors){hint}")


@app.command()
@friendly_errors
def predict(
    inputs: Annotated[Optional[list[str]], typer.Argument(help="Images, folders or globs; or videos (.mp4, .mov, .avi, .mkv, .webm, ...): see --fps, --out. With --bulk, manifest CSVs (a path column) too.")] = None,
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Model directory, or 'default' (the shipped model, used when --model is absent); a fastai .pkl needs --trust-pickle.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per image on stdout: path, label, probs, width, height, faces (each: box as x, y, w, h in pixels, cut to the image; score; label; probs).")] = False,
    detect: Annotated[Optional[bool], typer.Option("--detect/--no-detect", help="Find faces first (default: as the model was trained).")] = None,
    classes: Annotated[Optional[str], typer.Option(help="Answer only among these classes, e.g. happy,sad,surprise,laughing.")] = None,
    annotate: Annotated[Optional[Path], typer.Option(help="Write copies with numbered boxes and labels (or a 'no face' mark) into this folder; for one video, a file path (out.mp4, .avi, .webm) works too.")] = None,
    tta: Annotated[bool, typer.Option(help=TTA_HELP)] = False,
    trust_pickle: Annotated[bool, typer.Option("--trust-pickle", help="Allow a fastai .pkl model (unpickling can run code).")] = False,
    engine: Annotated[Optional[str], typer.Option(help=ENGINE_HELP)] = None,
    batch: Annotated[Optional[int], typer.Option(help="Images whose faces go through the network in one call (default 16; 64 with --bulk).")] = None,
    fps: Annotated[Optional[float], typer.Option(help="Videos: frames sampled per second of clip (default 4, at most the clip's rate).")] = None,
    every_frame: Annotated[bool, typer.Option("--every-frame", help="Videos: process every frame.")] = False,
    smooth: Annotated[float, typer.Option(help="Videos: seconds over which each person's probabilities are averaged; 0: none.")] = 0.5,
    out: Annotated[Path, typer.Option("--out", "-o", help="Videos: OUT/<clip>/ gets frames.jsonl, tracks.csv and timeline.png.")] = Path("runs/video"),
    max_frames: Annotated[int, typer.Option(help="Videos: refuse a clip that needs more sampled frames.")] = 100_000,
    bulk: Annotated[Optional[Path], typer.Option(help="Large jobs: append answers to BULK/part-RANK.jsonl (resumable: a rerun skips answered images), merged into BULK/predictions.jsonl; shards over the processes of torchrun / accelerate launch.")] = None,
    shard: Annotated[Optional[str], typer.Option(help="With --bulk: do shard I of N (e.g. 0/4) of the sorted inputs; default: from the launcher (RANK/WORLD_SIZE).")] = None,
    workers: Annotated[Optional[int], typer.Option(help="With --bulk: threads decoding images and finding faces ahead of the network (default: this process's share of the cores).")] = None,
    merge: Annotated[Optional[Path], typer.Option(help="Only merge the parts in this --bulk folder into predictions.jsonl (every answer, sorted by path).")] = None,
):
    """Classify the expression of every face in images, or of every person over time in videos."""
    _setup_logging(False)
    if merge is not None or bulk is not None or shard is not None or _launched():
        _predict_bulk(inputs or [], model=model, bulk=bulk, shard=shard, merge=merge, workers=workers, batch=batch,
                      annotate=annotate, predictor_options=dict(detect=detect, classes=_split_classes(classes),
                                                                trust_pickle=trust_pickle, tta=tta, engine=engine))
        return
    batch = batch or 16
    inputs = inputs or []
    from .errors import ImageDecodeError
    from .predict import Predictor, named_inputs
    from glob import glob, has_magic

    from .predict.video import is_video_path

    model, images = _model_and_images(inputs, model)
    videos = [Path(m) for i in images if is_video_path(i) for m in (sorted(glob(i)) or [i] if has_magic(i) else [i])]
    images = [i for i in images if not is_video_path(i)]
    named = named_inputs(images)
    if not named and not videos:
        raise ImageDecodeError("no images given; pass image files, folders or globs")
    paths = [path for path, _ in named]
    predictor = Predictor(model, detect=detect, classes=_split_classes(classes), trust_pickle=trust_pickle, tta=tta,
                          engine=engine)
    if videos:
        _predict_videos(predictor, videos, out=out, annotate=annotate, as_json=as_json, fps=fps,
                        every_frame=every_frame, smooth=smooth, max_frames=max_frames)
        if not named:
            return
    results, names, failed = [], [], 0
    answers = (r for start in range(0, len(paths), max(1, batch))
               for r in predictor.predict_batch(paths[start:start + max(1, batch)]))
    for (path, name), result in zip(named, answers):
        if isinstance(result, ImageDecodeError):
            exc = result
            failed += 1
            if as_json:
                typer.echo(json.dumps({"path": str(path), "error": str(exc)}))
            else:
                typer.echo(f"facexp: skipped {exc}", err=True)
            continue
        if annotate is not None:
            from .predict.render import save_annotated

            save_annotated(path, result, annotate, name=name)
        if as_json:
            typer.echo(result.to_json())
        results.append(result)
        names.append(name)
    if results and not as_json:  # every input unreadable: the "skipped" lines say it all, no empty table
        from rich.console import Console

        from .predict.render import results_table

        console = Console()
        console.print(results_table(results, names, width=console.width))
    if failed:
        raise typer.Exit(3)


def _launched() -> bool:
    from ._launch import launched

    return launched()


def _predict_bulk(inputs: list[str], *, model: Optional[str], bulk: Optional[Path], shard: Optional[str],
                  merge: Optional[Path], workers: Optional[int], batch: Optional[int], annotate: Optional[Path],
                  predictor_options: dict) -> None:
    """``--bulk``/``--merge``: this process's shard into its JSONL part, then the merge; summaries on stdout."""
    from ._launch import world_size
    from .errors import ConfigError
    from .predict import Predictor
    from .predict.bulk import BULK_BATCH, merge_parts, parse_shard, predict_bulk, share_cores
    from .predict.video import is_video_path

    if merge is not None:
        typer.echo(merge_parts(merge).summary_line())
        return
    if bulk is None:
        why = "--shard" if shard else f"under a launcher ({world_size()} processes), facexp predict"
        raise ConfigError(f"{why} needs --bulk DIR: each process appends its part of the answers there")
    if annotate is not None:
        raise ConfigError("--annotate is for a few photos; with --bulk the answers go to JSONL only")
    model, images = _model_and_images(inputs, model)
    videos = [i for i in images if is_video_path(i)]
    if videos:
        raise ConfigError(f"--bulk takes images and manifest CSVs; run videos ({videos[0]}, ...) without --bulk")
    share_cores()  # several processes on one machine: each ONNX Runtime gets its share of the cores
    predictor = Predictor(model, **predictor_options)
    report = predict_bulk(predictor, images, bulk, shard=parse_shard(shard) if shard else None,
                          batch_size=batch or BULK_BATCH, workers=workers)
    typer.echo(report.summary_line())
    if report.merged is not None:
        typer.echo(report.merged.summary_line())


def _predict_videos(predictor, videos: list[Path], *, out: Path, annotate: Optional[Path], as_json: bool,
                    fps: Optional[float], every_frame: bool, smooth: float, max_frames: int) -> None:
    """Each clip into OUT/<clip>/; one line per person; Ctrl-C keeps what was written and exits 130."""
    from .errors import ConfigError
    from .predict.video import DEFAULT_FPS, FOURCC, analyse_video

    as_file = annotate is not None and annotate.suffix.lower() in FOURCC
    if as_file and len(videos) > 1:
        raise ConfigError(f"--annotate {annotate}: one file for {len(videos)} videos; pass a folder instead")
    for video in videos:
        target = (annotate if as_file else annotate / f"{video.stem}.mp4") if annotate is not None else None
        report = analyse_video(predictor, video, out / video.stem, fps=DEFAULT_FPS if fps is None else fps,
                               every_frame=every_frame, smooth_s=smooth, annotate=target, max_frames=max_frames,
                               on_frame=(lambda r: typer.echo(r.to_json())) if as_json else None)
        echo = (lambda text: typer.echo(text, err=True)) if as_json else typer.echo
        echo(f"{video.name}: {report.n_frames} frames at {report.rate:g}/s (0-{report.last_s:.1f} s), "
             f"{report.n_with_faces} with faces, {counted(len(report.tracks), 'person')}")
        for t in report.tracks:
            shares = ", ".join(f"{c} {v:.0%}" for c, v in sorted(t.shares.items(), key=lambda kv: -kv[1]) if v >= 0.05)
            echo(f"  #{t.track}: {t.start_s:.1f}-{t.end_s:.1f} s, {t.n_frames} frames, mostly {t.dominant} ({shares})")
        echo("  wrote " + ", ".join(str(p) for p in report.files.values()))
        for warning in report.warnings:
            typer.secho(f"WARNING: {warning}", fg=typer.colors.YELLOW, err=True)
        if report.interrupted:
            typer.echo(f"facexp: interrupted at {report.last_s:.1f} s of {video.name}; the files above cover what "
                       "was done", err=True)
            raise typer.Exit(130)


@app.command()
@friendly_errors
def export(
    model: Annotated[str, typer.Argument(help="Model directory, or 'default' (the shipped model).")],
    onnx: Annotated[bool, typer.Option("--onnx", help="ONNX is the format written (the flag is accepted, not needed).")] = True,
    out: Annotated[Optional[Path], typer.Option(help="Output file (default: MODEL/model.onnx; for 'default': ./default.onnx).")] = None,
    int8: Annotated[bool, typer.Option("--int8", help="Also write the int8 graph (from the model's int8 ranges; about half the file) beside it, as *.int8.onnx.")] = False,
):
    """Export a model to one ONNX file, checked against PyTorch, that carries its classes and preprocessing."""
    _setup_logging(False)
    from .engines import CHECK_BATCH, TOLERANCE, export_onnx, read_onnx_metadata

    _check_model_dir(model)
    if model == "default":
        from .predict import default_model_dir

        model, out = str(default_model_dir()), out or Path("default.onnx")
    path = export_onnx(model, out)
    meta = read_onnx_metadata(path)
    typer.echo(f"wrote {path}\nchecked: ONNX Runtime vs PyTorch on {CHECK_BATCH} random inputs, largest logit "
               f"difference {float(meta['check_max_abs_diff']):.1e} (limit {TOLERANCE:.0e})\n"
               f"metadata_props: {', '.join(sorted(meta))} (classes {', '.join(json.loads(meta['classes']))}; "
               f"input {meta['input_size']} px {meta['colour_mode']})")
    if int8:
        from .int8 import export_int8

        quantised = export_int8(model, path, path.with_suffix(".int8.onnx"))
        valid = json.loads(read_onnx_metadata(quantised)["int8"]).get("validation", {})
        measured = "; ".join(f"{view}: {m['int8']:.4f} in int8, {m['fp32']:.4f} in fp32" for view, m in valid.items())
        typer.echo(f"wrote {quantised} ({quantised.stat().st_size / 1e6:.1f} MB; validation accuracy {measured or 'not recorded'})")


@app.command()
def models():
    """List the backbones facexp registers (any torchvision or timm name works too)."""
    from .backbones import get_backbone, list_backbones

    for name in list_backbones():
        spec = get_backbone(name)
        typer.echo(f"{name:20s} weights: {spec.weights}")


def _register_stage_commands() -> None:
    """Verbs whose code lives with their stage (each module imports only typer at load time)."""
    from .clean.cli import clean_app
    from .collect.cli import collect_app, dedup_command, snippet_command
    from .faces.cli import faces_command
    from .serve.cli import serve_command

    app.add_typer(collect_app, name="collect")  # collect's verbs handle their own errors and Ctrl-C
    app.command("dedup")(dedup_command)
    app.command("snippet")(snippet_command)

    app.command("faces")(friendly_errors(faces_command))
    app.command("serve")(friendly_errors(serve_command))
    app.add_typer(clean_app, name="clean")  # find → review → apply


_register_stage_commands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
