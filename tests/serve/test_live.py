"""Against a real uvicorn on 127.0.0.1: HTTP, a bounded load test, and the page in headless Chromium."""

import concurrent.futures as cf
import os
import socket
import threading
import time

import httpx
import pytest
import uvicorn

from facexp.serve.app import create_app
from facexp.serve.settings import ServeSettings

CHROMIUM = "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(face_model):
    port = free_port()
    app = create_app(ServeSettings(model=str(face_model), port=port, max_concurrency=4))
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 60
    while not srv.started and time.time() < deadline:
        time.sleep(0.1)
    assert srv.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


def test_real_server_round_trip(server, astronaut_jpeg):
    with httpx.Client(base_url=server, timeout=30) as c:
        assert c.get("/healthz").json()["status"] == "ok"
        body = c.post("/v1/predict", files={"file": ("a.jpg", astronaut_jpeg, "image/jpeg")}).json()
        assert body["count"] == 1
        assert "<canvas" in c.get("/").text and c.get("/static/app.js").status_code == 200


def test_bounded_load_has_no_errors(server, astronaut_jpeg):
    """60 requests, 4 at a time: every one answered 200 or 503 (never queued forever), most 200."""
    def one(_):
        with httpx.Client(base_url=server, timeout=60) as c:
            return c.post("/v1/predict", files={"file": ("a.jpg", astronaut_jpeg)}).status_code

    with cf.ThreadPoolExecutor(4) as pool:
        codes = list(pool.map(one, range(60)))
    assert set(codes) <= {200, 503} and codes.count(200) >= 50


@pytest.mark.browser
def test_page_in_headless_chromium(server, astronaut_jpeg, tmp_path):
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (make test installs it with apt-get)")
    from playwright.sync_api import sync_playwright

    photo = tmp_path / "astronaut.jpg"
    photo.write_bytes(astronaut_jpeg)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page()
        page.goto(server + "/")
        page.set_input_files("#file", str(photo))
        page.wait_for_selector("#faces li", timeout=30_000)
        assert page.locator("#faces li").count() == 1
        label = page.locator(".face-head").inner_text()
        assert label.startswith("Face 1: ") and label.split(": ")[1] in ("circle", "square", "triangle")
        assert page.evaluate("document.getElementById('canvas').width") == 512
        page.check("#gradcam")
        page.wait_for_selector("img.gradcam", timeout=30_000)
        page.screenshot(path=str(tmp_path / "page.png"))
        browser.close()
