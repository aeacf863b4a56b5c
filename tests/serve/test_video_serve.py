"""The server's video routes: an uploaded clip (/v1/predict/video), camera frames (/v1/predict/live),
and the page's Live mode in headless Chromium with a fake camera playing a clip made here."""

from __future__ import annotations

import io
import os
import time

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from facexp.predict import Predictor
from facexp.serve.app import create_app
from facexp.serve.settings import ServeSettings
from serve_helpers import serving
from video_helpers import astronaut_head, moving_face, no_face, write_clip, write_y4m

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def expressions() -> Predictor:
    return Predictor()  # the shipped expression model: labels to check, not shapes


@pytest.fixture(scope="module")
def clip_bytes(tmp_path_factory) -> bytes:
    """3 s of the astronaut moving slowly, then 1 s of coffee, mp4 at 10 fps."""
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    return write_clip(path, moving_face(30, x1=200) + no_face(10), 10).read_bytes()


def jpeg(frame) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def test_video_upload_answers_frames_and_a_summary_per_person(expressions, clip_bytes):
    with TestClient(create_app(ServeSettings(), expressions)) as client:
        res = client.post("/v1/predict/video?fps=2", files={"file": ("clip.mp4", clip_bytes, "video/mp4")})
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["video"] == {"width": 640, "height": 480, "fps": 10.0, "duration_s": 4.0, "sampled_fps": 2.0}
    assert body["count"] == 8 and [f["time_s"] for f in body["frames"]][:3] == [0.0, 0.5, 1.0]
    assert [len(f["faces"]) for f in body["frames"]] == [1] * 6 + [0, 0]
    assert {f["faces"][0]["track"] for f in body["frames"][:6]} == {1} and "path" not in body["frames"][0]
    (person,) = body["tracks"]
    assert person["n_frames"] == 6 and person["dominant"] == body["frames"][0]["faces"][0]["label"]
    assert body["warnings"] == []


def test_video_upload_limits_and_bad_clips(expressions, clip_bytes):
    settings = ServeSettings(max_video_bytes=len(clip_bytes) + 10, max_video_s=3.0)
    with TestClient(create_app(settings, expressions)) as client:
        too_long = client.post("/v1/predict/video", files={"file": ("clip.mp4", clip_bytes)})
        too_big = client.post("/v1/predict/video", files={"file": ("big.mp4", clip_bytes + b"\0" * 100)})
        not_video = client.post("/v1/predict/video", files={"file": ("notes.mp4", b"hello " * 100)})
        cut = client.post("/v1/predict/video", files={"file": ("cut.mp4", clip_bytes[: len(clip_bytes) // 2])})
        fast = client.post("/v1/predict/video?fps=30", files={"file": ("clip.mp4", clip_bytes)})
    assert too_long.status_code == 413 and too_long.json()["error"]["code"] == "too_long"
    assert "up to 3 s" in too_long.json()["error"]["message"]
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "too_large"
    for res, name in ((not_video, "notes.mp4"), (cut, "cut.mp4")):
        assert res.status_code == 415 and res.json()["error"]["code"] == "bad_video"
        message = res.json()["error"]["message"]
        assert message.startswith(f"{name}: not a video") and "/tmp" not in message
    assert fast.status_code == 422 and "fps" in fast.json()["error"]["message"]


def test_live_frames_keep_their_track_per_session_and_need_the_key(expressions):
    frames = moving_face(6, x1=100)
    with TestClient(create_app(ServeSettings(api_key="k3y"), expressions)) as client:
        key = {"X-API-Key": "k3y"}
        refused = client.post("/v1/predict/live?session=a", files={"file": ("f.jpg", jpeg(frames[0]))})
        answers = [client.post(f"/v1/predict/live?session=a&t={0.25 * i}", headers=key,
                               files={"file": ("f.jpg", jpeg(frame))}).json() for i, frame in enumerate(frames)]
        other = client.post("/v1/predict/live?session=b", headers=key, files={"file": ("f.jpg", jpeg(frames[0]))})
        bad = client.post("/v1/predict/live?session=../x", headers=key, files={"file": ("f.jpg", jpeg(frames[0]))})
    assert refused.status_code == 401
    assert [a["time_s"] for a in answers] == [0.0, 0.25, 0.5, 0.75, 1.0, 1.25]
    assert [[f["track"] for f in a["faces"]] for a in answers] == [[1]] * 6
    assert other.json()["faces"][0]["track"] == 1 and other.json()["session"] == "b"
    assert bad.status_code == 422


@pytest.fixture(scope="module")
def live_server(expressions):
    with serving(lambda port: create_app(ServeSettings(port=port), expressions)) as url:
        yield url


@pytest.mark.browser
def test_live_mode_boxes_the_face_the_camera_sees(live_server, tmp_path):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    head = astronaut_head(240)
    there = moving_face(20, head=head, x0=150, x1=250, y=100)
    camera = write_y4m(tmp_path / "camera.y4m", there + there[::-1], fps=10)  # there and back: Chromium loops it
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={camera}"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args)
        page = browser.new_page()
        sent = []
        page.on("request", lambda r: sent.append(r.url) if "/v1/predict/live" in r.url else None)
        page.goto(live_server + "/")
        page.click("#live-start")
        page.wait_for_selector("#faces li .face-head", timeout=30_000)
        deadline = time.time() + 30
        while time.time() < deadline and len(sent) < 4:
            page.wait_for_timeout(100)  # (events reach the `sent` list only while playwright waits)
        head_text = page.locator(".face-head").first.inner_text()
        assert head_text == "#1: happy", head_text  # the astronaut smiles; one person, one id
        assert page.locator("#timeline").is_visible()
        painted = page.evaluate("(() => { const c = document.getElementById('timeline'); const d = c.getContext('2d')"
                                ".getImageData(0, 0, c.width, c.height - 18).data; let n = 0;"
                                "for (let i = 0; i < d.length; i += 4) if (d[i] !== 255 || d[i + 1] !== 255) n++;"
                                "return n; })()")
        assert painted > 50  # cells of the person's lane
        assert page.locator("#status").inner_text().startswith("Live: 1 face;")
        page.click("#live-start")  # stops
        assert page.locator("#video").is_hidden() and page.locator("#live-start").inner_text() == "Live"
        n_sent = len(sent)
        page.wait_for_timeout(600)
        assert len(sent) == n_sent and n_sent >= 4  # a few frames a second, and none after stopping
        browser.close()
