"""Downloads against the loopback image host: real exports, every misbehaviour, resume."""

from __future__ import annotations

import base64
import csv
import hashlib
import threading
import time

import pytest

from collect_host import CLASSES, exif_rotated_jpeg, export_lines, image_bytes, to_loopback
from facexp.collect import UrlItem, collect_urls, download_all
from facexp.collect._lock import dataset_lock
from facexp.errors import CollectError, DataError
from facexp.imageio import open_image


def stored_files(root):
    return sorted(p for p in root.rglob("*") if p.is_file() and p.parent != root)


def test_real_exports_each_url_once_conflicts_listed(image_host, fast, tmp_path):
    lists = []
    for label in CLASSES:
        path = tmp_path / "lists" / f"{label}.txt"
        path.parent.mkdir(exist_ok=True)
        path.write_text("\n".join(to_loopback(line, image_host.url) for line in export_lines(label)) + "\n")
        lists.append(path)
    out = tmp_path / "raw"
    report = collect_urls(lists, out, config=fast)

    labels_of: dict[str, set[str]] = {}
    for path in lists:
        for line in path.read_text().splitlines():
            if line.strip():
                labels_of.setdefault(line.strip(), set()).add(path.stem)
    n_items = sum(len(v) for v in labels_of.values())
    shared = {url for url, labels in labels_of.items() if len(labels) > 1}
    assert shared, "the exports file some URLs under two classes"
    assert report.n_items == n_items and report.n_failed == 0 and report.n_pending == 0
    assert {r.source for r in report.records if r.status == "conflict"} == shared
    assert report.n_conflicts == sum(len(labels_of[u]) for u in shared)
    assert report.n_ok == n_items - report.n_conflicts
    # each URL fetched once, even when filed under two classes
    assert sorted(image_host.hits.values()) == [1] * len(labels_of)
    # one file per (class, picture); nothing partial; manifest.csv = the usable ones
    files = stored_files(out)
    assert len(files) == n_items and not [f for f in files if f.name.startswith(".")]
    with open(out / "manifest.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == report.n_ok and all((out / r["path"]).is_file() for r in rows)
    assert {r["label"] for r in rows} == set(CLASSES)
    with open(out / "conflicts.csv") as fh:
        assert len(list(csv.DictReader(fh))) == report.n_conflicts

    again = collect_urls(lists, out, config=fast)  # a rerun fetches nothing and changes nothing
    assert sorted(image_host.hits.values()) == [1] * len(labels_of)
    assert [(r.id, r.status, r.path) for r in again.records] == [(r.id, r.status, r.path) for r in report.records]


BEHAVIOURS = {  # route → (status, reason) after the run
    "404/site/a.jpg": ("failed", "http 404"),
    "flaky/site/f.jpg": ("ok", None),
    "busy/site/b.jpg": ("ok", None),
    "reset/site/r.jpg": ("ok", None),
    "redirect/site/d.jpg": ("ok", None),
    "text/site/t.jpg": ("ok", None),
    "slow/site/s.jpg": ("ok", None),
    "tooslow/site/t.jpg": ("failed", "timeout"),
    "html/site/h.jpg": ("failed", "html"),
    "truncated/site/t.jpg": ("failed", "truncated"),
    "huge/site/h.jpg": ("failed", "too_large"),
    "hugechunked/site/h.jpg": ("failed", "too_large"),
    "bomb/site/b.png": ("failed", "too_many_pixels"),
    "loop/site/l.jpg": ("failed", "too_many_redirects"),
    "same/site/one.jpg": ("conflict", "conflict"),
    "same/other/two.jpg": ("duplicate", "duplicate"),
}


def test_misbehaving_host_every_item_ends_ok_or_with_a_reason(image_host, fast, tmp_path):
    host = image_host.url
    inline = image_bytes("inline", "PNG")
    data_uri = "data:image/png;base64," + base64.b64encode(inline).decode()
    items = [UrlItem(f"{host}/{route}", "happy") for route in BEHAVIOURS]
    items += [UrlItem(data_uri, "happy"), UrlItem(f"{host}/same/site/one.jpg", "sad"),
              UrlItem("data:image/png;base64,%%", "sad")]
    out = tmp_path / "raw"
    report = download_all(items, out, config=fast)
    by_route = {(r.source.split("/", 3)[-1], r.label): r for r in report.records}
    for route, (status, reason) in BEHAVIOURS.items():
        record = by_route[(route, "happy")]
        assert (record.status, record.reason) == (status, reason), (route, record.detail)
    assert image_host.hits["/flaky/site/f.jpg"] == 2 and image_host.hits["/busy/site/b.jpg"] == 2
    assert image_host.hits["/404/site/a.jpg"] == 1  # a 404 is final: no retry
    # 1 + 1 retry; the client gave up on the retry before the server thread counted it, so wait a little
    deadline = time.monotonic() + 5
    while image_host.hits["/tooslow/site/t.jpg"] < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert image_host.hits["/tooslow/site/t.jpg"] == 2
    sad = by_route[("same/site/one.jpg", "sad")]
    assert sad.status == "conflict" and "under 'happy'" in sad.detail
    dup = by_route[("same/other/two.jpg", "happy")]
    assert dup.duplicate_of == by_route[("same/site/one.jpg", "happy")].id
    inline_record = next(r for r in report.records if r.source.startswith("data:sha256:") and r.label == "happy")
    assert inline_record.status == "ok" and (out / inline_record.path).read_bytes() == inline
    assert next(r for r in report.records if r.label == "sad" and r.source.startswith("data:")).reason == "bad_data_uri"
    assert report.failures["too_large"] == 2
    assert not [p for p in out.rglob("*") if p.name.startswith(".part-")]

    hits_before = dict(image_host.hits)
    again = download_all(items, out, config=fast)  # failures are retried, done items are not fetched
    assert image_host.hits["/flaky/site/f.jpg"] == hits_before["/flaky/site/f.jpg"]
    assert image_host.hits["/404/site/a.jpg"] == hits_before["/404/site/a.jpg"] + 1
    assert {r.id: r.status for r in again.records} == {r.id: r.status for r in report.records}
    attempts = {r.source.split("/", 3)[-1]: r.attempts for r in again.records if r.label == "happy"}
    # requests made, retries included (issue 17): the 404 once per run, the flaky one 500 then 200
    assert attempts["404/site/a.jpg"] == 2 and attempts["flaky/site/f.jpg"] == 2


def test_original_bytes_kept_with_exif_and_upright_size_recorded(image_host, fast, tmp_path):
    report = download_all([UrlItem(f"{image_host.url}/exif/cam/photo.jpg", "happy")], tmp_path, config=fast)
    record = report.records[0]
    stored = (tmp_path / record.path).read_bytes()
    assert stored == exif_rotated_jpeg() and record.sha256 == hashlib.sha256(stored).hexdigest()
    assert (record.width, record.height, record.format) == (32, 64, "JPEG")
    assert open_image(tmp_path / record.path).size == (32, 64)
    assert record.path == f"happy/{record.sha256[:16]}.jpg"


def test_deleted_file_is_fetched_again(image_host, fast, tmp_path):
    items = [UrlItem(f"{image_host.url}/img/site/{i}.jpg", "sad") for i in range(3)]
    first = download_all(items, tmp_path, config=fast)
    (tmp_path / first.records[1].path).unlink()
    second = download_all(items, tmp_path, config=fast)
    assert [r.status for r in second.records] == ["ok"] * 3 and second.records[1].attempts == 2
    assert image_host.hits["/img/site/1.jpg"] == 2 and image_host.hits["/img/site/0.jpg"] == 1


def test_one_writer_per_dataset(image_host, fast, tmp_path):
    with dataset_lock(tmp_path):
        thread_error = []

        def run():
            try:
                download_all([UrlItem(f"{image_host.url}/img/x.jpg", "happy")], tmp_path, config=fast)
            except CollectError as exc:
                thread_error.append(str(exc))

        worker = threading.Thread(target=run)  # another thread = another open file description
        worker.start()
        worker.join()
    assert thread_error and "another facexp run" in thread_error[0]


def test_empty_lists_are_an_error_naming_them(tmp_path):
    (tmp_path / "happy.txt").write_text("\n\n# nothing yet\n")
    with pytest.raises(DataError, match=r"no image URLs in .*happy\.txt"):
        collect_urls([tmp_path / "happy.txt"], tmp_path / "raw")
