import base64
import os
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile

import pytest
from typer.testing import CliRunner

from facexp.collect import CollectConfig, collect_folder, dedup, download_all, read_url_list
from facexp.collect.cli import collect_app, dedup_command, snippet_command
from facexp.collect.manifest import ManifestDB
from facexp.errors import CollectError
from image_host import export_urls, image_bytes, to_loopback

FAST = CollectConfig(workers=8, per_host=8, per_host_rate=0, read_timeout=1.0, connect_timeout=1.0, retries=2,
                     backoff=0.05, max_bytes=1024 * 1024, max_pixels=20_000_000)


def write_list(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


def test_parse_export_with_blanks_repeats_comments_and_data_uris(tmp_path):
    data_uri = "data:image/jpeg;base64," + base64.b64encode(image_bytes("d")).decode()
    path = write_list(tmp_path / "happy.txt", ["", "https://a/1.jpg", "https://a/1.jpg", "# comment", "", data_uri,
                                                "not a url", "https://a/2.jpg"])
    items, skipped = read_url_list(path)
    assert [i.url[:10] for i in items] == ["https://a/", "data:image", "https://a/"]
    assert {i.label for i in items} == {"happy"} and skipped == ["not a url"]


def test_csv_with_label_column(tmp_path):
    path = tmp_path / "exports.csv"
    path.write_text("url,label\nhttps://a/1.jpg,happy\nhttps://a/2.jpg,sad\n,sad\n")
    items, _ = read_url_list(path, label_column="label")
    assert [(i.url, i.label) for i in items] == [("https://a/1.jpg", "happy"), ("https://a/2.jpg", "sad")]
    with pytest.raises(CollectError, match="no column 'link'"):
        read_url_list(path, url_column="link")


def test_real_exports_against_a_misbehaving_host(image_host, tmp_path):
    happy = [to_loopback(u, image_host) for u in export_urls("happy", 12)]
    happy += [f"{image_host}/{p}" for p in ("404", "flaky/1.jpg", "busy/1.jpg", "html.jpg", "truncated.jpg",
                                             "huge.jpg", "loop", "bomb.png", "same/a.jpg", "same/b.jpg",
                                             "slow/1.jpg", "tooslow/1.jpg")]
    happy.append("data:image/png;base64," + base64.b64encode(image_bytes("inline", "PNG")).decode())
    sad = [to_loopback(u, image_host) for u in export_urls("sad", 8)] + [f"{image_host}/same/a.jpg"]
    items = read_url_list(write_list(tmp_path / "happy.txt", happy))[0] + read_url_list(write_list(tmp_path / "sad.txt", sad))[0]
    db = download_all(items, tmp_path / "raw", cfg=FAST)
    rows = {src.split("/", 3)[-1] if src.startswith("http") else src[:11]: (status, reason)
            for src, status, reason in sqlite3.connect(db.path).execute("SELECT source, status, reason FROM items")}
    assert rows["404"] == ("failed", "http 404")
    assert rows["flaky/1.jpg"][0] == "ok" and rows["busy/1.jpg"][0] == "ok" and rows["slow/1.jpg"][0] == "ok"
    assert rows["html.jpg"][1].startswith("html")
    assert rows["truncated.jpg"][1].startswith("not_image")
    assert rows["huge.jpg"][1].startswith("too_large") and rows["bomb.png"][1].startswith("too_large")
    assert rows["loop"][1].startswith("redirects")
    assert rows["tooslow/1.jpg"][1] == "timeout"
    assert rows["data:sha256"][0] == "ok"
    statuses = [s for s, _ in rows.values()]
    assert statuses.count("conflict") >= 2  # same/a.jpg under happy and sad (and its twin b.jpg)
    counts = db.counts()
    assert counts.get("pending", 0) == 0
    # every ok item has its file; nothing half-written is left
    for item in db.items(statuses=("ok",)):
        assert (tmp_path / "raw" / item.path).exists()
    assert not list((tmp_path / "raw").rglob(".part-*"))
    manifest_csv = (tmp_path / "raw" / "manifest.csv").read_text().splitlines()
    assert manifest_csv[0] == "path,label" and len(manifest_csv) - 1 == counts["ok"]
    # a rerun retries only the failures and changes nothing that was done
    before = {i.id: i.path for i in db.items(statuses=("ok",))}
    db2 = download_all(items, tmp_path / "raw", cfg=FAST)
    assert {i.id: i.path for i in db2.items(statuses=("ok",))} == before


def test_sigkill_midway_then_rerun_loses_nothing(image_host, tmp_path):
    urls = [f"{image_host}/slowimg/{i}.jpg" for i in range(40)]
    lst = write_list(tmp_path / "happy.txt", urls)
    out = tmp_path / "raw"
    cmd = [sys.executable, "-c", "from facexp.cli import main; main()", "collect", "urls", str(lst), "--out", str(out),
           "--workers", "2", "--per-host-rate", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        time.sleep(0.2)
        if (out / "manifest.sqlite").exists():
            try:
                done = sqlite3.connect(out / "manifest.sqlite").execute(
                    "SELECT COUNT(*) FROM items WHERE status='ok'").fetchone()[0]
            except sqlite3.OperationalError:
                continue
            if done >= 8:
                break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert done < 40, "the run finished before it could be killed"
    res = subprocess.run(cmd, capture_output=True, timeout=120)
    assert res.returncode == 0, res.stderr.decode()[-2000:]
    db = ManifestDB(out)
    assert db.counts() == {"ok": 40}
    assert sorted(i.source for i in db.items()) == sorted(urls)  # each URL exactly once
    files = [p for p in (out / "happy").iterdir()]
    assert len(files) == 40 and not [p for p in files if p.name.startswith(".part")]


def test_folder_and_zip_and_dedup(tmp_path):
    src = tmp_path / "src"
    for label in ("happy", "sad"):
        (src / label).mkdir(parents=True)
        for i in range(3):
            (src / label / f"{i}.jpg").write_bytes(image_bytes(f"{label}{i}"))
    (src / "happy" / "copy.jpg").write_bytes(image_bytes("happy0"))  # exact duplicate
    from PIL import Image
    import io

    img = Image.open(io.BytesIO(image_bytes("happy1"))).resize((60, 60))  # near duplicate (resized)
    img.save(src / "happy" / "resized.png")
    (src / "sad" / "also_happy.jpg").write_bytes(image_bytes("happy2"))  # label conflict
    (src / "sad" / "broken.jpg").write_bytes(b"\xff\xd8 nope")
    db = collect_folder(src, tmp_path / "data")
    assert db.counts()["failed"] == 1 and db.counts()["duplicate"] == 1
    report = dedup(tmp_path / "data", threshold=4, apply=True)
    assert report.n_duplicates == 2 and report.n_conflict_images == 2 and report.moved >= 1
    assert (tmp_path / "data" / "_duplicates").is_dir()
    assert len(list((tmp_path / "data").rglob("*.*g"))) == 9 - 1  # moved, never deleted (exact copy shares a file)
    archive = tmp_path / "faces.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("faces/happy/a.jpg", image_bytes("z1"))
        z.writestr("faces/sad/b.jpg", image_bytes("z2"))
    assert collect_folder(archive, tmp_path / "zipped").counts() == {"ok": 2}


def test_cli_commands(image_host, tmp_path):
    runner = CliRunner()
    lst = write_list(tmp_path / "laugh.txt", [f"{image_host}/img/{i}.jpg" for i in range(5)] + [f"{image_host}/404"])
    res = runner.invoke(collect_app, ["urls", str(lst), "--out", str(tmp_path / "raw"), "--per-host-rate", "0"])
    assert res.exit_code == 0, res.output
    assert "failed: http 404" in res.output and (tmp_path / "raw" / "laugh").is_dir()
    import typer

    app = typer.Typer()
    app.command("dedup")(dedup_command)
    app.command("snippet")(snippet_command)
    res = runner.invoke(app, ["dedup", str(tmp_path / "raw")])
    assert res.exit_code == 0 and "5 images: 0 duplicates" in res.output
    res = runner.invoke(app, ["snippet"])
    assert "imgurl" in res.output


def test_search_fails_fast_offline(monkeypatch):
    import facexp.collect.search as search

    monkeypatch.setattr(search, "PROBE_HOST", ("127.0.0.1", 9))  # discard port: refused at once
    start = time.time()
    with pytest.raises(CollectError, match="needs internet access"):
        search.search_images("laughing face", label="laughing")
    assert time.time() - start < 5
