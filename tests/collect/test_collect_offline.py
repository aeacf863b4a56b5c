"""Issue 17: collecting without a network stops at once with one line and leaves the URLs pending;
name lookups are not retried; the attempts column counts requests; progress shows without a TTY."""

from __future__ import annotations

import socket
import sqlite3
import time

import httpx
import pytest
from typer.testing import CliRunner

from collect_host import image_bytes
from facexp.collect import CollectConfig, DownloadFailed, UrlItem, download_all, fetch, make_client
from facexp.collect import download as download_module
from facexp.collect.cli import collect_app
from facexp.collect.download import NoNetwork

CFG = CollectConfig(workers=8, per_host=4, rate=0, read_timeout=0.5, max_time=1.0, retries=3, backoff=0.01)
runner = CliRunner()


def dns_failure(request):
    try:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    except socket.gaierror as exc:
        raise httpx.ConnectError("[Errno -2] Name or service not known", request=request) from exc


def client_for(handler, config=CFG) -> httpx.Client:
    return make_client(config, transport=httpx.MockTransport(handler))


def attempts_in(root) -> dict[str, tuple[str, int]]:
    with sqlite3.connect(root / "manifest.sqlite") as conn:
        return {src: (status, n) for src, status, n in conn.execute("SELECT source, status, attempts FROM items")}


def test_a_failed_name_lookup_is_not_retried():
    calls = []

    def handler(request):
        calls.append(request.url)
        dns_failure(request)

    with pytest.raises(DownloadFailed) as info:
        fetch("https://encrypted-tbn0.gstatic.com/images?q=tbn:1", client=client_for(handler), config=CFG)
    assert info.value.reason == "dns" and info.value.attempts == 1 and len(calls) == 1
    assert "encrypted-tbn0.gstatic.com: name resolution failed" in info.value.detail


def test_offline_stops_at_once_leaves_every_url_pending_and_a_rerun_resumes(tmp_path):
    items = [UrlItem(f"https://encrypted-tbn0.gstatic.com/images?q=tbn:{i}", "happy", "list:happy.txt")
             for i in range(400)]
    start = time.monotonic()
    with pytest.raises(NoNetwork) as info:
        download_all(items, tmp_path, config=CFG, client=client_for(dns_failure))
    assert time.monotonic() - start < 10
    message = str(info.value)
    assert message.startswith("no network:") and "400 URLs left pending; rerun when online" in message
    assert "\n" not in message
    assert {v for v in attempts_in(tmp_path).values()} == {("pending", 0)}

    report = download_all(items, tmp_path, config=CFG,
                          client=client_for(lambda r: httpx.Response(200, content=image_bytes(str(r.url)))))
    assert report.n_ok == 400 and {v for v in attempts_in(tmp_path).values()} == {("ok", 1)}


def test_with_a_network_an_unknown_host_is_a_failure_tried_once(tmp_path):
    def handler(request):
        if request.url.host == "gone.example":
            dns_failure(request)
        return httpx.Response(200, content=image_bytes(str(request.url)))

    items = [UrlItem(f"https://img.example/{i}.jpg", "happy", "list") for i in range(3)]
    items += [UrlItem(f"https://gone.example/{i}.jpg", "happy", "list") for i in range(5)]
    config = CollectConfig(workers=1, per_host=1, rate=0, retries=3, backoff=0.01)  # the good ones finish first
    report = download_all(items, tmp_path, config=config, client=client_for(handler, config))
    assert report.n_ok == 3 and report.failures == {"dns": 5}
    assert {v for k, v in attempts_in(tmp_path).items() if "gone" in k} == {("failed", 1)}


def test_attempts_counts_every_request(tmp_path):
    seen: dict[str, int] = {}

    def handler(request):
        seen[request.url.path] = seen.get(request.url.path, 0) + 1
        if request.url.path == "/down.jpg" or (request.url.path == "/flaky.jpg" and seen["/flaky.jpg"] == 1):
            return httpx.Response(503)
        return httpx.Response(200, content=image_bytes(request.url.path))

    items = [UrlItem(f"https://h.example/{name}.jpg", "happy", "list") for name in ("down", "flaky", "fine")]
    report = download_all(items, tmp_path, config=CFG, client=client_for(handler))
    attempts = {k.rsplit("/", 1)[1]: v for k, v in attempts_in(tmp_path).items()}
    assert attempts == {"down.jpg": ("failed", 4), "flaky.jpg": ("ok", 2), "fine.jpg": ("ok", 1)}
    assert "4 attempts" in next(r.detail for r in report.records if r.status == "failed")


def test_cli_offline_is_one_line_and_progress_shows_without_a_tty(monkeypatch, tmp_path):
    lst = tmp_path / "happy.txt"
    lst.write_text("".join(f"https://encrypted-tbn0.gstatic.com/images?q=tbn:{i}\n" for i in range(400)))
    monkeypatch.setattr(download_module, "make_client", lambda config: client_for(dns_failure, config))
    res = runner.invoke(collect_app, ["urls", str(lst), "--out", str(tmp_path / "raw")])
    assert res.exit_code == 5, res.output
    assert res.stderr.strip().splitlines()[-1].startswith("facexp: NoNetwork: no network:")
    assert "400 URLs left pending; rerun when online" in res.stderr and "Traceback" not in res.output

    good = tmp_path / "sad.txt"
    good.write_text("".join(f"https://img.example/{i}.jpg\n" for i in range(30)))
    monkeypatch.setattr(download_module, "make_client", lambda config: client_for(
        lambda r: httpx.Response(200, content=image_bytes(str(r.url))), config))
    res = runner.invoke(collect_app, ["urls", str(good), "--out", str(tmp_path / "raw2")])
    assert res.exit_code == 0, res.output
    lines = [line for line in res.stderr.splitlines() if line.startswith("downloading:")]
    assert len(lines) >= 2 and lines[-1] == "downloading: 30/30 (30 ok, 0 failed)"
