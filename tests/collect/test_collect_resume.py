"""A collect run killed (SIGKILL) or interrupted (Ctrl-C) mid-way loses nothing; the rerun finishes it."""

from __future__ import annotations

import csv
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import facexp
from collect_host import export_lines, to_loopback

SRC = str(Path(facexp.__file__).resolve().parents[1])


def write_list(tmp_path: Path, host: str, n: int = 40) -> tuple[Path, list[str]]:
    """The first ``n`` URLs of the real happy export (blank lines kept) on a slow route, plus two
    URLs of one picture."""
    lines, count = [], 0
    for line in export_lines("happy"):
        lines.append(to_loopback(line, host, "slowimg"))
        count += bool(line.strip())
        if count == n:
            break
    lines += [f"{host}/same/a.example/1.jpg", f"{host}/same/b.example/2.jpg"]
    path = tmp_path / "happy.txt"
    path.write_text("\n".join(lines) + "\n")
    return path, [line for line in lines if line.strip()]


def command(url_list: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "facexp.collect", "urls", str(url_list), "--out", str(out), "--workers", "2",
            "--rate", "0", "--timeout", "5"]


def environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [SRC, os.environ.get("PYTHONPATH")]))}


def wait_for_ok(out: Path, n: int, proc: subprocess.Popen, timeout: float = 60) -> int:
    """Wait until ``n`` pictures are saved, counting files on disk: a read of the manifest while the
    run writes it can fail for as long as the run lasts, and the run would end unobserved."""
    deadline, done = time.monotonic() + timeout, 0
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
        done = sum(1 for p in out.glob("happy/*.jpg") if not p.name.startswith("."))
        if done >= n:
            break
    assert proc.poll() is None, f"the run ended before {n} pictures were seen; it can no longer be interrupted"
    return done


def rows(out: Path) -> list[tuple]:
    with sqlite3.connect(out / "manifest.sqlite") as db:
        return db.execute("SELECT source, label, status, sha256, path FROM items ORDER BY id").fetchall()


def check_complete(out: Path, urls: list[str]) -> None:
    """Each URL exactly once in the manifest, each picture once on disk, nothing partial."""
    items = rows(out)
    assert sorted(source for source, *_ in items) == sorted(urls)
    assert {status for _, _, status, _, _ in items} == {"ok", "duplicate"}
    shas = {sha for *_, sha, _ in items}
    files = [p for p in (out / "happy").iterdir()]
    assert sorted(p.name for p in files) == sorted(f"{sha[:16]}.jpg" for sha in shas)
    with open(out / "manifest.csv") as fh:
        assert len(list(csv.DictReader(fh))) == len(urls) - 1  # one of the two identical pictures is a duplicate


def test_sigkill_midway_then_rerun_loses_and_duplicates_nothing(image_host, tmp_path):
    url_list, urls = write_list(tmp_path, image_host.url)
    out = tmp_path / "raw"
    proc = subprocess.Popen(command(url_list, out), env=environment(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    done = wait_for_ok(out, 8, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL and 8 <= done < len(urls), "killed mid-way"
    (out / "happy" / ".part-left-by-a-kill").write_bytes(b"\xff\xd8 half a jpeg")  # as a kill mid-write leaves

    rerun = subprocess.run(command(url_list, out), env=environment(), capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    check_complete(out, urls)  # the planted .part file is gone too


def test_ctrl_c_saves_the_manifest_exits_130_and_rerun_finishes(image_host, tmp_path):
    url_list, urls = write_list(tmp_path, image_host.url, n=40)
    out = tmp_path / "raw"
    # a shell that starts a job in the background makes it ignore SIGINT, and Python then keeps ignoring
    # it: give the run a Ctrl-C like a terminal's, whatever started pytest
    proc = subprocess.Popen(command(url_list, out), env=environment(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    wait_for_ok(out, 5, proc)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 130, stderr[-2000:]
    assert stderr.strip().splitlines()[-1].startswith("facexp: interrupted; what finished is in the manifest")
    assert "Traceback" not in stderr
    items = rows(out)
    ok = [path for _, _, status, _, path in items if status == "ok"]
    with open(out / "manifest.csv") as fh:  # written on the way out, consistent with the table
        assert sorted(r["path"] for r in csv.DictReader(fh)) == sorted(ok)
    assert all((out / p).is_file() for p in ok) and len(ok) < len(urls)

    rerun = subprocess.run(command(url_list, out), env=environment(), capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    check_complete(out, urls)
