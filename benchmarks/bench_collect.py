"""Collect throughput against a loopback image host, facexp vs fastai's download_images; dedup time.

    .venv/bin/python benchmarks/bench_collect.py [--n 2000] [--dedup-dir ../shared/data/fer2013/train]

Both downloaders fetch the same N URLs (small JPEGs, as web thumbnails are) from a threaded HTTP
server on 127.0.0.1 in the same run; facexp also decodes, hashes (sha256 + perceptual) and records
every image in its manifest, fastai only writes the bytes. Then `facexp dedup` on a folder of
class sub-folders (FER2013 train: 28,709 images) is timed from scratch (index + hash + compare).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

from _machine import machine_line, write_result

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from image_host import Handler  # noqa: E402

from facexp.collect import CollectConfig, UrlItem, collect_folder, dedup, download_all  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=16)
    ap.add_argument("--dedup-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/fer2013/train")
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host = f"http://127.0.0.1:{server.server_address[1]}"
    urls = [f"{host}/img/bench/{i}.jpg" for i in range(args.n)]
    lines = [f"Collect: {args.n} URLs from a loopback host, {args.workers} workers. {machine_line()}", "",
             "| downloader | images/s | ok | what it does per image |", "|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        cfg = CollectConfig(workers=args.workers, per_host=args.workers, per_host_rate=0)
        t0 = time.perf_counter()
        db = download_all([UrlItem(u, "bench") for u in urls], Path(tmp) / "facexp", cfg=cfg)
        t_fx = time.perf_counter() - t0
        ok = db.counts().get("ok", 0)
        lines.append(f"| facexp collect | {args.n / t_fx:.0f} | {ok} | fetch, decode, sha256 + phash, atomic write, "
                     "SQLite manifest |")
        from fastai.vision.utils import download_images

        t0 = time.perf_counter()
        download_images(Path(tmp) / "fastai", urls=urls, n_workers=8)
        t_fa = time.perf_counter() - t0
        n_fa = len(list((Path(tmp) / "fastai").iterdir()))
        lines.append(f"| fastai download_images (8 workers) | {args.n / t_fa:.0f} | {n_fa} | fetch, write |")
    server.shutdown()
    if args.dedup_dir.is_dir():
        with tempfile.TemporaryDirectory() as tmp:
            # index a symlinked copy so the read-only source folder gets no manifest file
            link = Path(tmp) / "data"
            link.mkdir()
            for d in args.dedup_dir.iterdir():
                if d.is_dir():
                    (link / d.name).symlink_to(d.resolve(), target_is_directory=True)
            t0 = time.perf_counter()
            collect_folder(link, link)
            t_index = time.perf_counter() - t0
            t0 = time.perf_counter()
            report = dedup(link, threshold=4)
            t_dedup = time.perf_counter() - t0
        lines += ["", f"Dedup of `{args.dedup_dir}` ({report.n_images} usable images after exact duplicates): "
                  f"index + hash {t_index:.1f}s, near-duplicate search (phash, Hamming <= 4) {t_dedup:.1f}s; "
                  f"{report.n_duplicates} duplicates, {report.n_conflict_images} images in "
                  f"{report.n_conflict_groups} label-conflict groups."]
    write_result("collect", lines)


if __name__ == "__main__":
    main()
