"""Collect throughput against a loopback image host, facexp vs fastai's download_images; dedup on FER2013.

    .venv/bin/python benchmarks/bench_collect.py [--n 2000] [--workers 8] [--fer ../shared/data/fer2013/train]

1. Throughput: N photo-like JPEGs (10-30 KB, as web thumbnails are) on a threaded HTTP server
   in its own process on 127.0.0.1; facexp (fetch, full decode, sha256 + perceptual hash, atomic
   write, SQLite manifest) and fastai's download_images (fetch, write) get the same N URLs in the
   same run. facexp runs with per-host limits off (--rate 0), since it is one local host; its
   polite defaults (4 in flight, 10/s per host) would cap it at 10 images/s.
2. The real Google Images exports (../shared/data/google_urls, rewritten to the loopback host):
   how many distinct images each tool ends up with (their URLs differ only in the query string).
3. FER2013 train (28,709 images in class folders): `facexp collect folder` (verify, hash, copy)
   and `facexp dedup` (exact + near duplicates, phash Hamming <= 4), timed.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT / "tests" / "collect"), str(ROOT / "src")]

from _machine import machine_line, write_result  # noqa: E402
from collect_host import CLASSES, ImageHostServer, export_lines, photo_bytes, to_loopback  # noqa: E402

from facexp.collect import CollectConfig, UrlItem, collect_folder, dedup, download_all, inspect_image  # noqa: E402


def _serve(keys: list[str], ready) -> None:
    """Server process: make every body first, then serve them from memory."""
    server = ImageHostServer(photos={key: photo_bytes(key) for key in keys})
    ready.put(server.server_address[1])
    server.serve_forever()


def start_host(keys: list[str]) -> tuple[multiprocessing.Process, str]:
    ctx = multiprocessing.get_context("fork")
    ready = ctx.Queue()
    proc = ctx.Process(target=_serve, args=(keys, ready), daemon=True)
    proc.start()
    return proc, f"http://127.0.0.1:{ready.get(timeout=300)}"


def distinct_images(folder: Path) -> int:
    return len({hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()
                and not p.name.startswith(".") and p.suffix != ".sqlite" and p.suffix != ".csv"})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--fer", type=Path, default=ROOT.parent / "shared/data/fer2013/train")
    args = ap.parse_args()
    from fastai.vision.utils import download_images  # imported before any timing (torch is slow to import)

    keys = [f"bench/{i}.jpg" for i in range(args.n)]
    proc, host = start_host(keys)
    urls = [f"{host}/photo/{key}" for key in keys]
    bodies = [photo_bytes(k) for k in keys[:200]]
    sizes = sorted(len(b) for b in bodies)
    load = os.getloadavg()[0]
    lines = [f"**Collect throughput**: {args.n} URLs of photo-like JPEGs ({sizes[0] // 1024}-{sizes[-1] // 1024} KB, "
             f"median {sizes[len(sizes) // 2] // 1024} KB) "
             f"from a loopback host in its own process; load average {load:.1f} at start (a training run "
             f"shares the machine). {machine_line()}", "",
             "| downloader | images/s | images stored | distinct | per image |", "|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        for i, body in enumerate(bodies):
            inspect_image(body, name=str(i), max_pixels=40_000_000)
        verify_ms = (time.perf_counter() - t0) / len(bodies) * 1000

        cfg = CollectConfig(workers=args.workers, per_host=args.workers, rate=0)
        t0 = time.perf_counter()
        report = download_all([UrlItem(u, "bench") for u in urls], Path(tmp) / "facexp", config=cfg)
        t_fx = time.perf_counter() - t0
        lines.append(f"| facexp collect ({args.workers} workers) | **{args.n / t_fx:.0f}** | {report.n_ok} | "
                     f"{distinct_images(Path(tmp) / 'facexp')} | fetch, full decode + sha256 + phash "
                     f"({verify_ms:.1f} ms of it, one thread), atomic write, manifest row |")
        t0 = time.perf_counter()
        download_images(Path(tmp) / "fastai", urls=urls, n_workers=8, timeout=4)
        t_fa = time.perf_counter() - t0
        n_fa = sum(1 for _ in (Path(tmp) / "fastai").iterdir())
        lines.append(f"| fastai download_images (8 workers) | {args.n / t_fa:.0f} | {n_fa} | "
                     f"{distinct_images(Path(tmp) / 'fastai')} | fetch, write (no check that it is an image) |")

    real = [(to_loopback(line, host, "photo"), label) for label in CLASSES for line in export_lines(label)
            if line.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        report = download_all([UrlItem(u, label) for u, label in real], Path(tmp) / "facexp",
                              config=CollectConfig(workers=args.workers, per_host=args.workers, rate=0))
        (Path(tmp) / "fastai").mkdir()
        for label in CLASSES:
            download_images(Path(tmp) / "fastai" / label, urls=[u for u, lab in real if lab == label], n_workers=8)
        fx_distinct = distinct_images(Path(tmp) / "facexp")
        fa_distinct = distinct_images(Path(tmp) / "fastai")
    n_unique = len({u for u, _ in real})
    lines += ["", f"**The real exports** ({len(real)} URLs of `../shared/data/google_urls`, {n_unique} distinct, "
              "all `encrypted-tbn0.gstatic.com/images?q=tbn:...` thumbnails, rewritten to the loopback host): "
              f"facexp stored {fx_distinct} distinct images ({report.n_ok} usable, {report.n_conflicts} set aside as "
              f"label conflicts: the same URL under two classes); fastai stored {fa_distinct} distinct image(s), "
              "because `download_images` drops the query string (`url.split('?')[0]`), so every URL becomes "
              "`.../images`."]
    proc.terminate()
    proc.join()

    if args.fer.is_dir():
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            imported = collect_folder(args.fer, Path(tmp) / "fer")
            t_import = time.perf_counter() - t0
            t0 = time.perf_counter()
            found = dedup(Path(tmp) / "fer", threshold=4)
            t_dedup = time.perf_counter() - t0
        lines += ["", f"**Dedup** of `{args.fer}` ({imported.n_items:,} images, {len(list(args.fer.iterdir()))} "
                  "classes):", "", "| step | seconds | images/s | result |", "|---|---|---|---|",
                  f"| `facexp collect folder` (decode, sha256 + phash, copy, manifest) | {t_import:.1f} | "
                  f"{imported.n_items / t_import:.0f} | {imported.n_items - imported.n_failed:,} verified, "
                  f"{imported.n_failed} failed |",
                  f"| `facexp dedup --threshold 4` (all pairs of 64-bit phashes, decisions, CSVs) | {t_dedup:.1f} | "
                  f"{found.n_images / t_dedup:.0f} | {found.n_duplicates:,} duplicates, {found.n_conflicts:,} images "
                  f"in {found.n_conflict_groups:,} label-conflict groups |"]
    else:
        lines += ["", f"Dedup benchmark skipped: {args.fer} is not on this machine."]
    write_result("collect", lines)


if __name__ == "__main__":
    main()
