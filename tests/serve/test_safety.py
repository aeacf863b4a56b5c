"""The safety rules: bad uploads, byte/pixel limits, body deadline, 503/504, API key, CORS."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi.testclient import TestClient

from serve_helpers import HeldPredictor, png_bytes
from facexp.serve.app import create_app
from facexp.serve.service import Turns
from facexp.serve.settings import ServeSettings

BOUNDARY = "facexp-test-boundary"
MULTIPART = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}


def part_head(field: str = "file", filename: str = "x.png") -> bytes:
    return (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode()


def part_tail() -> bytes:
    return f"\r\n--{BOUNDARY}--\r\n".encode()


async def call(app, method: str, url: str, **kwargs) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        return await c.request(method, url, **kwargs)


@pytest.fixture(scope="module")
def client(predictor):
    with TestClient(create_app(ServeSettings(), predictor)) as c:
        yield c


@pytest.mark.parametrize("files, status, code", [
    ({"file": ("notes.txt", b"just some text", "text/plain")}, 415, "bad_image"),
    ({"file": ("html.jpg", b"<html><body>not an image</body></html>", "image/jpeg")}, 415, "bad_image"),
    ({"file": ("empty.jpg", b"", "image/jpeg")}, 400, "empty"),
    ({"image": ("a.png", png_bytes(), "image/png")}, 422, "bad_request"),
], ids=["text-file", "html-as-jpeg", "empty-file", "wrong-field-name"])
def test_bad_uploads(client, files, status, code):
    res = client.post("/v1/predict", files=files)
    assert res.status_code == status and res.json()["error"]["code"] == code
    assert res.json()["error"]["message"]


def test_empty_body_and_not_multipart(client):
    res = client.post("/v1/predict")
    assert res.status_code == 422 and "'file'" in res.json()["error"]["message"]
    res = client.post("/v1/predict", content=b"raw bytes", headers={"content-type": "image/jpeg"})
    assert res.status_code == 422 and res.json()["error"]["code"] == "bad_request"


def test_truncated_jpeg(client, astronaut_jpeg):
    res = client.post("/v1/predict", files={"file": ("cut.jpg", astronaut_jpeg[: len(astronaut_jpeg) // 3])})
    message = res.json()["error"]["message"]
    assert res.status_code == 415 and "not a readable image" in message and "0x" not in message


@pytest.mark.parametrize("size, says", [((20_000, 10_000), "decompression bomb"),  # PIL's own guard (179 MP)
                                         ((10_000, 10_000), "over the limit of 40,000,000 pixels"),  # ours
                                         ((10_000, 5_000), "over the limit of 40,000,000 pixels")])
def test_png_bombs_are_refused_before_decoding(client, size, says):
    bomb = png_bytes(size, "1")  # 200, 100 or 50 megapixels in about 24, 12 or 6 kB
    assert len(bomb) < 200_000
    res = client.post("/v1/predict", files={"file": ("bomb.png", bomb)})
    assert res.status_code == 413 and res.json()["error"]["code"] == "too_large"
    assert says in res.json()["error"]["message"]


def test_upload_byte_limit(predictor):
    with TestClient(create_app(ServeSettings(max_upload_bytes=1000), predictor)) as c:
        res = c.post("/v1/predict", files={"file": ("big.png", png_bytes((300, 300)) + b"\0" * 5000)})
        assert res.status_code == 413 and res.json()["error"]["code"] == "too_large"
        res = c.post("/v1/predict", content=b"\0" * 200_000, headers=MULTIPART)  # refused on Content-Length
        assert res.status_code == 413 and "200,000 bytes" in res.json()["error"]["message"]


def test_chunked_upload_is_cut_off_at_the_limit(predictor):
    sent = 0

    async def endless():
        nonlocal sent
        yield part_head()
        for _ in range(200):  # 12.8 MB if nobody stops it
            sent += 65536
            yield b"\0" * 65536
        yield part_tail()

    app = create_app(ServeSettings(max_upload_bytes=100_000), predictor)
    res = asyncio.run(call(app, "POST", "/v1/predict", content=endless(), headers=MULTIPART))
    assert res.status_code == 413 and res.json()["error"]["code"] == "too_large"
    assert sent < 1_000_000


def test_slow_body_gets_408(predictor):
    async def slow():
        yield part_head()
        await asyncio.sleep(1.0)
        yield png_bytes() + part_tail()

    app = create_app(ServeSettings(timeout_s=0.3), predictor)
    res = asyncio.run(call(app, "POST", "/v1/predict", content=slow(), headers=MULTIPART))
    assert res.status_code == 408 and res.json()["error"]["code"] == "request_timeout"


def test_saturated_server_answers_503_with_retry_after(predictor, astronaut_jpeg):
    held = HeldPredictor(predictor)
    app = create_app(ServeSettings(max_concurrency=1), held)

    async def scenario():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
            first = asyncio.create_task(c.post("/v1/predict", files={"file": ("a.jpg", astronaut_jpeg)}))
            await asyncio.sleep(0.3)
            second = await c.post("/v1/predict", files={"file": ("a.jpg", astronaut_jpeg)})
            held.release.set()
            return await first, second

    first, second = asyncio.run(scenario())
    assert first.status_code == 200
    assert second.status_code == 503 and second.headers["retry-after"] == "1"
    assert second.json()["error"]["code"] == "busy"


def test_timeout_answers_504_and_keeps_the_slot_until_the_work_ends(predictor, astronaut_jpeg):
    # the budget also covers reading the body: 0.2 s once ran out there on a loaded machine (408, not 504)
    held = HeldPredictor(predictor, hold_s=3.0)
    with TestClient(create_app(ServeSettings(timeout_s=1.0, max_concurrency=1), held)) as c:
        res = c.post("/v1/predict", files={"file": ("a.jpg", astronaut_jpeg)})
        assert res.status_code == 504 and res.json()["error"]["code"] == "timeout"
        assert c.post("/v1/predict", files={"file": ("a.jpg", astronaut_jpeg)}).status_code == 503
        assert held.finished.wait(20)  # the abandoned prediction still ends on its own...
        held.release.set()
        deadline = time.monotonic() + 10  # ...and gives its slot back once its thread has returned
        while c.get("/metrics.json").json()["in_flight"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert c.get("/metrics.json").json()["in_flight"] == 0
        assert c.post("/v1/predict", files={"file": ("g.png", png_bytes())}).status_code == 200


class CountingPredictor(HeldPredictor):
    """A HeldPredictor that counts its predictions and the most that ran at once."""

    def __init__(self, predictor, **kwargs):
        super().__init__(predictor, **kwargs)
        self.calls = self.running = self.most = 0
        self._lock = threading.Lock()

    def predict_with_crops(self, *args, **kwargs):
        with self._lock:
            self.calls += 1
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            return super().predict_with_crops(*args, **kwargs)
        finally:
            with self._lock:
                self.running -= 1


def test_admitted_predictions_compute_in_turns(predictor, astronaut_jpeg):
    counting = CountingPredictor(predictor, hold_s=0.3)
    app = create_app(ServeSettings(max_concurrency=3), counting)
    app.state.service.turns = Turns(1)

    async def scenario():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
            return await asyncio.gather(*(c.post("/v1/predict", files={"file": ("a.jpg", astronaut_jpeg)})
                                          for _ in range(3)))

    assert [r.status_code for r in asyncio.run(scenario())] == [200] * 3  # admitted: they wait, no 503
    assert counting.calls == 3 and counting.most == 1


def test_a_prediction_that_timed_out_waiting_for_its_turn_is_never_computed(predictor, astronaut_jpeg):
    counting = CountingPredictor(predictor, hold_s=10)
    with TestClient(create_app(ServeSettings(timeout_s=0.3, max_concurrency=2), counting)) as c:
        c.app.state.service.turns = Turns(1)
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(c.post, "/v1/predict", files={"file": ("a.jpg", astronaut_jpeg)})
            time.sleep(0.1)  # the first one holds the only turn
            second = pool.submit(c.post, "/v1/predict", files={"file": ("a.jpg", astronaut_jpeg)})
            assert [first.result().status_code, second.result().status_code] == [504, 504]
        counting.release.set()
        deadline = time.monotonic() + 10
        while c.get("/metrics.json").json()["in_flight"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert counting.calls == 1  # the second gave its turn up without predicting


def test_api_key(predictor, astronaut_jpeg):
    app = create_app(ServeSettings(host="0.0.0.0", api_key="s3cret"), predictor)
    photo = {"file": ("a.jpg", astronaut_jpeg)}
    with TestClient(app) as c:
        res = c.post("/v1/predict", files=photo)
        assert res.status_code == 401 and res.json()["error"]["code"] == "unauthorized"
        assert c.post("/v1/predict", files=photo, headers={"X-API-Key": "wrong"}).status_code == 401
        assert c.post("/v1/predict", files=photo, headers={"Authorization": "Basic s3cret"}).status_code == 401
        assert c.post("/v1/predict", files=photo, headers={"X-API-Key": "s3cret"}).status_code == 200
        assert c.get("/v1/model", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.get("/metrics").status_code == 401 and c.get("/v1/model").status_code == 401
        for open_path in ("/", "/healthz", "/static/app.js", "/openapi.json", "/docs", "/docs-assets/swagger-ui.css"):
            assert c.get(open_path).status_code == 200, open_path


def test_public_bind_without_key_is_refused(predictor):
    from facexp.errors import ConfigError

    with pytest.raises(ConfigError, match="--api-key-env"):
        create_app(ServeSettings(host="0.0.0.0"), predictor)


def test_cors_off_by_default_and_only_for_listed_origins(client, predictor):
    assert "access-control-allow-origin" not in client.get("/healthz", headers={"Origin": "http://a.example"}).headers
    app = create_app(ServeSettings(cors_origins=("http://a.example",)), predictor)
    with TestClient(app) as c:
        ok = c.options("/v1/predict", headers={"Origin": "http://a.example", "Access-Control-Request-Method": "POST"})
        assert ok.headers["access-control-allow-origin"] == "http://a.example"
        other = c.get("/healthz", headers={"Origin": "http://b.example"})
        assert "access-control-allow-origin" not in other.headers


def test_model_that_cannot_load_is_503_without_paths(tmp_path):
    from facexp.errors import ModelError

    app = create_app(ServeSettings(model=str(tmp_path / "no-such-model")))
    with pytest.raises(ModelError), TestClient(app):  # the start-up load fails loudly in the server log
        pass
    c = TestClient(app)  # without the lifespan, the first request tries the load
    res = c.get("/v1/model")
    assert res.status_code == 503 and res.json()["error"]["code"] == "model_unavailable"
    assert str(tmp_path) not in res.text
