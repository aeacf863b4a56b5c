"""Against real servers on 127.0.0.1: uvicorn in a thread, `facexp serve` in a subprocess, a bounded
load test, and the page in headless Chromium (Debian's /usr/bin/chromium)."""

from __future__ import annotations

import concurrent.futures as cf
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from facexp.serve.app import create_app
from facexp.serve.settings import MIB, ServeSettings
from helpers import wait_until
from serve_helpers import free_port, serving

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]  # a synthetic webcam


@pytest.fixture(scope="module")
def server(predictor):
    """uvicorn serving the tiny face model: 2 predictions at once, 2 MB uploads."""
    with serving(lambda port: create_app(ServeSettings(port=port, max_concurrency=2, max_upload_bytes=2 * MIB),
                                         predictor)) as url:
        yield url


def test_real_server_round_trip(server, astronaut_jpeg):
    with httpx.Client(base_url=server, timeout=30) as c:
        assert c.get("/healthz").json()["status"] == "ok"
        body = c.post("/v1/predict", files={"file": ("a.jpg", astronaut_jpeg, "image/jpeg")}).json()
        assert body["count"] == 1 and body["image"] == {"width": 512, "height": 512}
        assert "<canvas" in c.get("/").text and c.get("/static/app.js").status_code == 200
        res = c.post("/v1/predict", files={"file": ("big.png", b"\0" * (3 * MIB))})
        assert res.status_code == 413 and res.json()["error"]["code"] == "too_large"


def test_bounded_load(server, astronaut_jpeg):
    """A fixed number of requests that ends by itself: within the limit every answer is 200; past it,
    the surplus is told 503 + Retry-After at once instead of waiting in a queue."""
    def one(_):
        with httpx.Client(base_url=server, timeout=30) as c:
            t0 = time.perf_counter()
            res = c.post("/v1/predict", files={"file": ("a.jpg", astronaut_jpeg)})
            return res.status_code, res.headers.get("retry-after"), time.perf_counter() - t0

    with cf.ThreadPoolExecutor(2) as pool:
        within = list(pool.map(one, range(24)))
    assert [code for code, _, _ in within] == [200] * 24

    with cf.ThreadPoolExecutor(6) as pool:
        beyond = list(pool.map(one, range(36)))
    codes = [code for code, _, _ in beyond]
    assert set(codes) == {200, 503}, codes
    assert all(retry == "1" for code, retry, _ in beyond if code == 503)
    slowest_refusal = max(t for code, _, t in beyond if code == 503)
    assert slowest_refusal < max(t for code, _, t in beyond if code == 200)  # refused, not queued
    metrics = httpx.get(server + "/metrics.json").json()["routes"]["/v1/predict"]["by_status"]
    assert metrics["503"] == codes.count(503)


def test_facexp_serve_in_a_subprocess_with_key(tiny_model, tmp_path):
    """The real verb, one worker (--workers N is the same app through app_from_env; see test_settings_cli)."""
    facexp = Path(sys.executable).with_name("facexp")
    port = free_port()
    env = {**os.environ, "FACEXP_TEST_KEY": "s3cret"}
    log = tmp_path / "serve.log"
    with log.open("w") as err:
        proc = subprocess.Popen([str(facexp), "serve", str(tiny_model), "--port", str(port),
                                 "--api-key-env", "FACEXP_TEST_KEY"], env=env, stdout=subprocess.DEVNULL, stderr=err)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while time.time() < deadline and proc.poll() is None:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        assert proc.poll() is None, log.read_text()
        assert "facexp serving on http://127.0.0.1:" in log.read_text()
        assert httpx.get(url + "/v1/model", timeout=10).status_code == 401
        card = httpx.get(url + "/v1/model", headers={"X-API-Key": "s3cret"}, timeout=10).json()
        assert card["classes"] == ["circle", "square", "triangle"]
    finally:
        proc.terminate()
        proc.wait(20)


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.mark.browser
def test_page_boxes_the_astronaut(server, browser, astronaut_jpeg, tmp_path):
    photo = tmp_path / "astronaut.jpg"
    photo.write_bytes(astronaut_jpeg)
    page = browser.new_page()
    page.goto(server + "/")
    page.set_input_files("#file", str(photo))
    page.wait_for_selector("#faces li", timeout=30_000)
    assert page.locator("#faces li").count() == 1
    assert page.locator("#status").inner_text() == "1 face found."
    label = page.locator(".face-head").inner_text()
    assert label.startswith("#1: ") and label.split(": ")[1] in ("circle", "square", "triangle")  # numbered as on the photo
    assert page.locator("#faces .bar").count() == 3  # a probability bar per class
    box = httpx.post(server + "/v1/predict", files={"file": ("a.jpg", astronaut_jpeg)}).json()["faces"][0]["box"]
    left_edge = page.evaluate("([x, y, w, h]) => Array.from(document.getElementById('canvas').getContext('2d')"
                              ".getImageData(x, y + Math.floor(h / 2), 1, 1).data)", box)
    assert left_edge[:3] == [230, 25, 75]  # the first face's colour, drawn on the photo
    assert not page.locator("#timeline").is_visible()  # the live mode's timeline: no empty panel under a photo
    page.check("#gradcam")
    page.wait_for_selector("img.gradcam", timeout=30_000)
    page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
    page.close()


@pytest.mark.browser
def test_page_webcam_snapshot(server, browser):
    page = browser.new_page()
    page.goto(server + "/")
    page.click("#camera-start")
    wait_until(page, "document.getElementById('video').videoWidth > 0")
    page.click("#camera-snap")
    status = wait_until(page, "document.getElementById('status').textContent.includes('found') && "
                              "document.getElementById('status').textContent")
    assert status == "No face found in this photo."  # Chromium's fake camera shows no face
    assert page.evaluate("document.getElementById('canvas').width") > 0
    page.click("#camera-start")  # stops the camera
    assert page.locator("#video").is_hidden()
    page.close()


@pytest.mark.browser
def test_api_docs_render_offline(server, browser):
    """Swagger UI comes from this server (the browser has no network), so the operations show up."""
    page = browser.new_page()
    failed = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.goto(server + "/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=30_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/v1/predict" in paths and "/v1/model" in paths
    assert failed == []
    page.close()
