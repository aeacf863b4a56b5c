"""The collect CLI with typer's CliRunner: tables, JSON, one-line errors and exit codes; search offline."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time

import pytest
import typer
from typer.testing import CliRunner

from collect_host import image_bytes
from facexp.collect import browser_snippet, search
from facexp.collect.cli import collect_app, dedup_command, snippet_command

runner = CliRunner()
FAST_ARGS = ["--rate", "0", "--timeout", "2", "--retries", "0"]


def top_level_app() -> typer.Typer:
    """`facexp dedup` and `facexp snippet` as the main CLI registers them."""
    app = typer.Typer()
    app.command("dedup")(dedup_command)
    app.command("snippet")(snippet_command)
    return app


def test_urls_table_json_and_dedup(image_host, tmp_path):
    lst = tmp_path / "laugh.txt"
    lst.write_text("\n".join([f"{image_host.url}/img/site/{i}.jpg" for i in range(5)] + ["", f"{image_host.url}/404/x",
                                                                                        "javascript:void(0)"]))
    out = tmp_path / "raw"
    res = runner.invoke(collect_app, ["urls", str(lst), "--out", str(out), *FAST_ARGS])
    assert res.exit_code == 0, res.output
    assert "failed: http 404" in res.stdout and "lines that are not URLs" in res.stdout
    assert "5 ok, 1 failed, 0 duplicates, 0 label conflicts" in res.stdout
    res = runner.invoke(collect_app, ["urls", str(lst), "--out", str(out), "--json", *FAST_ARGS])
    data = json.loads(res.stdout)
    assert data["n_ok"] == 5 and data["failures"] == {"http 404": 1} and len(data["records"]) == 6
    assert data["skipped_lines"] == [{"file": str(lst), "line": 8, "text": "javascript:void(0)"}]

    res = runner.invoke(top_level_app(), ["dedup", str(out)])
    assert res.exit_code == 0 and "5 images: 0 duplicates" in res.stdout
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in res.stdout.splitlines()
            if line.count("│") == 3}
    assert rows["images"] == "5" and rows["duplicates (kept one per class) → duplicates.csv"] == "0"
    assert "not a collected dataset" not in res.stderr
    assert json.loads(runner.invoke(top_level_app(), ["dedup", str(out), "--json"]).stdout)["threshold"] == 4


def test_dedup_says_before_writing_its_manifest_into_a_plain_folder(tmp_path):
    for label in ("happy", "sad"):
        (tmp_path / label).mkdir()
        (tmp_path / label / "a.png").write_bytes(image_bytes(label, "PNG"))
    res = runner.invoke(top_level_app(), ["dedup", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["n_indexed"] == 2  # stdout stays pure JSON; the note goes to stderr
    assert f"{tmp_path} is not a collected dataset: indexing it in place, which writes manifest.sqlite" in res.stderr
    assert (tmp_path / "manifest.csv").is_file()
    assert "not a collected" not in runner.invoke(top_level_app(), ["dedup", str(tmp_path)]).stderr  # now it is


def test_folder_command(tmp_path):
    for label in ("happy", "sad"):
        (tmp_path / "src" / label).mkdir(parents=True)
        (tmp_path / "src" / label / "a.png").write_bytes(image_bytes(label, "PNG"))
    res = runner.invoke(collect_app, ["folder", str(tmp_path / "src"), "--out", str(tmp_path / "data")])
    assert res.exit_code == 0, res.output
    assert "2 ok, 0 failed" in res.stdout and (tmp_path / "data" / "manifest.csv").is_file()


@pytest.mark.parametrize("args, code, message", [
    (["urls", "{tmp}/missing.txt"], 3, "DataError: {tmp}/missing.txt: cannot read the URL list"),
    (["urls", "{tmp}/list.csv", "--url-column", "link"], 3, "DataError: {tmp}/list.csv: no column 'link'"),
    (["urls", "{tmp}/list.csv", "--workers", "0"], 2, "ConfigError: --workers must be at least 1"),
    (["folder", "{tmp}/nowhere"], 3, "DataError: {tmp}/nowhere: no such folder or zip"),
])
def test_errors_are_one_line_with_the_exit_code(tmp_path, args, code, message):
    (tmp_path / "list.csv").write_text("url\nhttps://a/1.jpg\n")
    res = runner.invoke(collect_app, [a.format(tmp=tmp_path) for a in args])
    assert res.exit_code == code
    assert res.stderr.splitlines() == [res.stderr.strip()] and res.stderr.startswith(
        "facexp: " + message.format(tmp=tmp_path))


def test_nothing_downloaded_is_an_error_after_the_table(tmp_path):
    with socket.socket() as s:  # a port nobody listens on: connections are refused at once
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    lst = tmp_path / "sad.txt"
    lst.write_text(f"http://127.0.0.1:{port}/a.jpg\nhttp://127.0.0.1:{port}/b.jpg\n")
    res = runner.invoke(collect_app, ["urls", str(lst), "--out", str(tmp_path / "raw"), *FAST_ARGS])
    assert res.exit_code == 5 and "failed: connection" in res.stdout
    assert res.stderr.splitlines()[-1].startswith(  # after the progress lines (stderr is not a TTY)
        "facexp: CollectError: none of the 2 items gave an image (connection ×2); the reasons")


def test_search_fails_fast_without_network(monkeypatch, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        unreachable = s.getsockname()
    monkeypatch.setattr(search, "PROBE_ADDRESS", unreachable)
    start = time.monotonic()
    res = runner.invoke(collect_app, ["search", "laughing face", "--label", "laughing", "--out", str(tmp_path)])
    assert time.monotonic() - start < 5
    assert res.exit_code == 5
    assert res.stderr.startswith("facexp: CollectError: image search for 'laughing face' needs internet access")
    assert "facexp collect urls" in res.stderr and len(res.stderr.splitlines()) == 1


def test_search_results_are_downloaded_as_one_class(monkeypatch, image_host, tmp_path):
    class FakeDDGS:  # what ddgs returns, pointing at the loopback host
        def __init__(self, timeout):
            pass

        def images(self, query, max_results):
            return [{"image": f"{image_host.url}/img/{query}/{i}.jpg", "title": "t"} for i in range(3)] + [
                {"image": f"{image_host.url}/img/{query}/0.jpg"}, {"thumbnail": "no image key"}]

    monkeypatch.setattr(search, "_probe", lambda address, timeout: None)
    monkeypatch.setattr("ddgs.DDGS", FakeDDGS)
    res = runner.invoke(collect_app, ["search", "laughing", "--label", "laughing", "--out", str(tmp_path), "--json",
                                      *FAST_ARGS])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["n_ok"] == 3 and {r["origin"] for r in data["records"]} == {"search:laughing"}


def test_search_errors_become_collect_errors(monkeypatch):
    from ddgs.exceptions import RatelimitException

    class Limited:
        def __init__(self, timeout):
            pass

        def images(self, query, max_results):
            raise RatelimitException("202 Ratelimit")

    monkeypatch.setattr(search, "_probe", lambda address, timeout: None)
    monkeypatch.setattr("ddgs.DDGS", Limited)
    with pytest.raises(search.CollectError, match="failed \\(RatelimitException: 202 Ratelimit\\); wait a minute"):
        search.search_images("x")


def test_snippet_prints_the_packaged_script():
    res = runner.invoke(top_level_app(), ["snippet"])
    assert res.exit_code == 0 and res.stdout == browser_snippet() and "imgurl" in res.stdout


SNIPPET_HARNESS = r"""
const fs = require("fs");
const saved = {};
const img = (src, w) => ({ currentSrc: src, src, naturalWidth: w, naturalHeight: w, dataset: {} });
const page = JSON.parse(process.argv[3]);
globalThis.location = { href: "https://www.google.com/search?q=laughing+face&tbm=isch",
                        search: "?q=laughing+face&tbm=isch" };
globalThis.document = {
  querySelectorAll: (sel) => sel.startsWith("a[") ? page.links.map((href) => ({ href }))
      : sel === "script" ? page.scripts.map((textContent) => ({ textContent }))
      : page.imgs.map(([s, w]) => img(s, w)),
  createElement: () => ({ click() { saved.name = this.download; saved.href = this.href; }, remove() {} }),
  body: { appendChild() {} },
};
URL.createObjectURL = (blob) => { saved.blob = blob; return "blob:x"; };
console.log = () => {};
eval(fs.readFileSync(process.argv[2], "utf8"));
saved.blob.text().then((text) => process.stdout.write(JSON.stringify({ name: saved.name, text })));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed (the snippet runs in browsers)")
@pytest.mark.parametrize("page, expected", [
    ({"links": ["/imgres?imgurl=https%3A%2F%2Fsite.example%2Ffull.jpg&tbnid=1"],
      "scripts": ['x=[["https://encrypted-tbn0.gstatic.com/images?q\\u003dtbn",194,259],'
                  '["https://other.example/a.png?s\\u003d1",900,1200]]'],
      "imgs": [["data:image/jpeg;base64,AAAA", 180]]},
     ["https://site.example/full.jpg", "https://other.example/a.png?s=1"]),
    ({"links": [], "scripts": [], "imgs": [["data:image/jpeg;base64,AAAA", 180], ["https://t.example/1", 120],
                                           ["https://www.google.com/logo.png", 20]]},
     ["data:image/jpeg;base64,AAAA", "https://t.example/1"]),
])
def test_snippet_exports_full_size_urls_or_thumbnails(tmp_path, page, expected):
    snippet = tmp_path / "snippet.js"
    snippet.write_text(browser_snippet())
    harness = tmp_path / "harness.js"
    harness.write_text(SNIPPET_HARNESS)
    res = subprocess.run(["node", str(harness), str(snippet), json.dumps(page)], capture_output=True, text=True,
                         timeout=30)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["name"] == "laughing_face.txt" and out["text"].splitlines() == expected
