"""Bulk prediction: very large folders or manifest CSVs, sharded over processes and machines.

Every process lists the same inputs, sorts them, and takes every N-th (its shard, from the
launcher's ``RANK``/``WORLD_SIZE`` or an explicit ``--shard I/N``). It appends one JSON line per
image to its own ``OUT/part-RANK.jsonl``, flushed after every batch, so a killed process loses at
most one batch. A rerun reads every part first and skips the images already answered (whatever
the number of processes then), and the process that finds every input answered merges the parts
into ``OUT/predictions.jsonl`` in input order (``facexp predict --merge OUT`` does it by hand)::

    torchrun --nproc_per_node 4 -m facexp predict photos/ --bulk runs/bulk        # 4 processes
    facexp predict photos/ --bulk runs/bulk --shard 0/2    # or any scheduler: one process per shard

torchrun is only the launcher here: nothing on this path imports torch (ONNX Runtime does the
network). Parts from several machines must end up in one folder (a shared file system, or copied
together before ``--merge``).

An unreadable image is an answer too (``{"path": ..., "error": ...}``), so one bad file neither
stops the job nor is tried again on every rerun.
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .._launch import core_share, rank, world_size
from .._progress import track
from ..errors import ConfigError, DataError, ImageDecodeError
from .predictor import Predictor, named_inputs

PART_GLOB = "part-*.jsonl"
MERGED = "predictions.jsonl"
MANIFEST_SUFFIXES = (".csv", ".tsv")
BULK_BATCH = 64  # images per network call and per flushed write


@dataclass(frozen=True)
class BulkReport:
    """What one process of a bulk run did."""

    out_dir: Path
    shard: tuple[int, int]  # (index, count)
    n_inputs: int  # images in the whole job
    n_shard: int  # images in this process's shard
    n_skipped: int  # of those, answered by an earlier run
    n_ok: int
    n_failed: int
    seconds: float
    merged: "MergeReport | None" = None

    @property
    def images_per_s(self) -> float:
        return (self.n_ok + self.n_failed) / self.seconds if self.seconds > 0 else 0.0

    def summary_line(self) -> str:
        index, count = self.shard
        done = self.n_ok + self.n_failed
        return (f"shard {index}/{count}: {self.n_shard} of {self.n_inputs} images, {self.n_skipped} already answered; "
                f"{self.n_ok} ok, {self.n_failed} failed in {self.seconds:.1f} s ({self.images_per_s:.1f} images/s) "
                f"-> {part_path(self.out_dir, index)}" + ("" if done or not self.n_shard else " (nothing left to do)"))


@dataclass(frozen=True)
class MergeReport:
    """The merged answers: one line per image in ``path``, or what is still missing."""

    path: Path | None  # None: not merged, some inputs are unanswered
    n_answers: int
    n_failed: int
    n_missing: int = 0
    failed: list[str] = field(default_factory=list)

    def summary_line(self) -> str:
        if self.path is None:
            return f"{self.n_answers} answered, {self.n_missing} still to do: the last process to finish merges the parts"
        return f"{self.n_answers - self.n_failed} ok, {self.n_failed} failed -> {self.path}"


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` → ``(I, N)``, with 0 <= I < N.

    Raises:
        ConfigError: not of that form.
    """
    try:
        index, count = (int(v) for v in text.split("/"))
    except ValueError:
        raise ConfigError(f"--shard {text!r}: expected I/N, e.g. 0/4 for the first of 4 shards") from None
    if not 0 <= index < count:
        raise ConfigError(f"--shard {text!r}: I must be between 0 and N-1 (N={count})")
    return index, count


def launcher_shard() -> tuple[int, int]:
    """This process's shard from the launcher's ``RANK``/``WORLD_SIZE`` ((0, 1) without one)."""
    return rank(), world_size()


def list_inputs(inputs: Iterable[str | os.PathLike]) -> list[str]:
    """Every image of ``inputs`` once, sorted: the order shards are cut from and answers merged in.

    Folders (recursively), files, globs, and manifest CSVs/TSVs with a ``path`` column (relative
    paths are read from the CSV's folder, as ``facexp train`` reads them).

    Raises:
        DataError: an input is missing, or a CSV has no ``path`` column.
    """
    images, others = [], []
    for item in inputs:
        p = Path(item)
        if p.suffix.lower() in MANIFEST_SUFFIXES and p.is_file():
            images.extend(_manifest_paths(p))
        else:
            others.append(item)
    if others:
        images.extend(str(path) for path, _ in named_inputs(others))
    return sorted(set(images))


def _manifest_paths(csv_path: Path) -> Iterator[str]:
    with csv_path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f, delimiter="\t" if csv_path.suffix.lower() == ".tsv" else ",")
        if "path" not in (reader.fieldnames or []):
            raise DataError(f"{csv_path}: a manifest needs a 'path' column (found {reader.fieldnames}); "
                            "pass a CSV with one image path per row under 'path'")
        for row in reader:
            if (row.get("path") or "").strip():
                yield str(csv_path.parent / row["path"].strip())


def part_path(out_dir: str | os.PathLike, index: int) -> Path:
    """The JSONL part shard ``index`` appends to."""
    return Path(out_dir) / f"part-{index}.jsonl"


def read_parts(out_dir: str | os.PathLike) -> dict[str, dict]:
    """Every complete answer in ``out_dir``'s parts, by path (the first one of a path wins).

    A line cut short by a killed process is not an answer (the rerun does that image again).
    """
    answers: dict[str, dict] = {}
    for part in sorted(Path(out_dir).glob(PART_GLOB)):
        with part.open(encoding="utf-8") as f:
            for line in f:
                if not line.endswith("\n"):
                    break  # being written, or cut short by a kill
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(record, dict) and isinstance(record.get("path"), str):
                    answers.setdefault(record["path"], record)
    return answers


def _open_part(path: Path):
    """Open ``path`` for appending, first cutting off a last line a killed process left unfinished."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.stat().st_size:
        with path.open("rb+") as f:
            data = f.read()
            if not data.endswith(b"\n"):
                f.truncate(data.rfind(b"\n") + 1)
    return path.open("a", encoding="utf-8")


def predict_bulk(predictor: Predictor, inputs: Iterable[str | os.PathLike], out_dir: str | os.PathLike, *,
                 shard: tuple[int, int] | None = None, batch_size: int = BULK_BATCH,
                 workers: int | None = None, merge: bool = True) -> BulkReport:
    """Predict this process's shard of ``inputs`` into ``out_dir/part-I.jsonl``; merge when all are answered.

    Args:
        predictor: the Predictor to use (its model, detection, classes and engine).
        inputs: folders, image files, globs and manifest CSVs (see ``list_inputs``).
        out_dir: where the parts and the merged ``predictions.jsonl`` go.
        shard: ``(index, count)``; None: from the launcher's env (``(0, 1)`` without a launcher).
        batch_size: images per network call and per flushed write.
        workers: threads decoding images and finding faces ahead of the network (None:
            ``default_workers()``, this process's share of the cores).
        merge: merge the parts into ``predictions.jsonl`` if this process finds every input answered.

    Returns:
        A BulkReport; its ``merged`` is the MergeReport when ``merge`` was on.

    Raises:
        DataError: no images in ``inputs``, or an input is missing.
        ConfigError: a bad shard.

    Example:
        >>> predict_bulk(Predictor(), ["photos/"], "runs/bulk", shard=(0, 2)).summary_line()  # doctest: +SKIP
    """
    index, count = shard if shard is not None else launcher_shard()
    workers = default_workers() if workers is None else workers
    if not 0 <= index < count:
        raise ConfigError(f"shard {index}/{count}: the index must be between 0 and {count - 1}")
    out_dir = Path(out_dir)
    items = list_inputs(inputs)
    if not items:
        raise DataError("no images in the inputs; pass folders, image files, globs or a manifest CSV with a path column")
    mine = items[index::count]
    answered = read_parts(out_dir)
    todo = [path for path in mine if path not in answered]
    started, counts = time.perf_counter(), {"ok": 0, "failed": 0}
    if todo:
        paths = iter(todo)
        batches = track(predictor.predict_batches(todo, batch_size=batch_size, workers=workers),
                        f"shard {index}/{count}", total=-(-len(todo) // max(1, batch_size)),
                        status=lambda: f"{counts['ok']} ok, {counts['failed']} failed")
        with _open_part(part_path(out_dir, index)) as part:
            for batch in batches:
                lines = []
                for result, path in zip(batch, paths):  # batch first: zip then takes no path too many
                    if isinstance(result, ImageDecodeError):
                        counts["failed"] += 1
                        lines.append(json.dumps({"path": path, "error": str(result)}))
                    else:
                        counts["ok"] += 1
                        lines.append(json.dumps({**result.to_dict(), "path": path}))
                part.write("\n".join(lines) + "\n")
                part.flush()  # a kill now loses at most the next batch
    seconds = time.perf_counter() - started
    merged = merge_parts(out_dir, items) if merge else None
    return BulkReport(out_dir, (index, count), len(items), len(mine), len(mine) - len(todo), counts["ok"],
                      counts["failed"], seconds, merged)


def merge_parts(out_dir: str | os.PathLike, items: list[str] | None = None) -> MergeReport:
    """Write ``out_dir/predictions.jsonl``: one answer per image, in ``items`` order.

    With ``items`` (the job's sorted inputs), nothing is written while any of them is unanswered;
    without, every answer in the parts is written, sorted by path. The file is replaced
    atomically, so two processes finishing at once both write the same complete file.

    Raises:
        DataError: ``out_dir`` holds no parts.
    """
    out_dir = Path(out_dir)
    if not any(out_dir.glob(PART_GLOB)):
        raise DataError(f"{out_dir}: no {PART_GLOB} files to merge; run `facexp predict INPUTS --bulk {out_dir}` first")
    answers = read_parts(out_dir)
    order = items if items is not None else sorted(answers)
    missing = sum(1 for path in order if path not in answers)
    if missing:
        return MergeReport(None, len(order) - missing, 0, missing)
    target = out_dir / MERGED
    tmp = out_dir / f".{MERGED}.{os.getpid()}.tmp"
    failed = []
    with tmp.open("w", encoding="utf-8") as f:
        for path in order:
            record = answers[path]
            if "error" in record:
                failed.append(path)
            f.write(json.dumps(record) + "\n")
    os.replace(tmp, target)
    return MergeReport(target, len(order), len(failed), 0, failed)


def _local_processes() -> int:
    return max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1))


def default_workers() -> int:
    """Decoding threads per process: its share of this machine's cores (measured: on a busy 2-core
    machine, 4 threads beside 2 ONNX threads halved the rate on photos)."""
    return core_share(_local_processes())


def share_cores() -> None:
    """Under a launcher with several processes on this machine, give each its share of the cores.

    ONNX Runtime otherwise starts one thread per core in every process (``$FACEXP_THREADS`` set
    by hand wins).
    """
    if _local_processes() > 1 and "FACEXP_THREADS" not in os.environ:
        os.environ["FACEXP_THREADS"] = str(default_workers())
