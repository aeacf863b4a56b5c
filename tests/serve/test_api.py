import asyncio
import io
import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from facexp.errors import ConfigError
from facexp.predict import Predictor
from facexp.serve.app import create_app
from facexp.serve.settings import ServeSettings


@pytest.fixture(scope="module")
def predictor(face_model):
    return Predictor(face_model)


@pytest.fixture(scope="module")
def client(predictor):
    with TestClient(create_app(ServeSettings(), predictor)) as c:
        yield c


def png_bytes(size=(64, 64), mode="RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size).save(buf, "PNG")
    return buf.getvalue()


def test_predict_astronaut(client, astronaut_jpeg):
    res = client.post("/v1/predict", files={"file": ("a.jpg", astronaut_jpeg, "image/jpeg")})
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["image"] == {"width": 512, "height": 512} and body["count"] == 1
    face = body["faces"][0]
    assert set(face) == {"box", "score", "label", "probs"} and face["label"] in face["probs"]
    assert "path" not in body and "/" not in str(body["model"])


def test_annotate_and_gradcam(client, astronaut_jpeg):
    res = client.post("/v1/predict?annotate=true&gradcam=true", files={"file": ("a.jpg", astronaut_jpeg)})
    body = res.json()
    assert body["annotated"].startswith("data:image/jpeg;base64,")
    assert body["faces"][0]["gradcam"].startswith("data:image/png;base64,")


def test_no_face_is_not_an_error(client):
    res = client.post("/v1/predict", files={"file": ("grey.png", png_bytes((300, 200)))})
    assert res.status_code == 200 and res.json()["faces"] == [] and res.json()["label"] is None


def test_batch_reports_each_image(client, astronaut_jpeg):
    files = [("files", ("a.jpg", astronaut_jpeg)), ("files", ("bad.txt", b"hello")), ("files", ("g.png", png_bytes()))]
    body = client.post("/v1/predict/batch", files=files).json()
    assert body["count"] == 3
    assert body["results"][0]["count"] == 1
    assert body["results"][1]["error"]["code"] == "bad_image"
    assert body["results"][2]["faces"] == []


@pytest.mark.parametrize("files, status, code", [
    ({"file": ("notes.txt", b"just some text", "text/plain")}, 415, "bad_image"),
    ({"file": ("html.jpg", b"<html><body>not an image</body></html>", "image/jpeg")}, 415, "bad_image"),
    ({"file": ("empty.jpg", b"", "image/jpeg")}, 400, "empty"),
    ({"image": ("a.png", png_bytes(), "image/png")}, 422, "bad_request"),
])
def test_bad_uploads(client, files, status, code):
    res = client.post("/v1/predict", files=files)
    assert res.status_code == status and res.json()["error"]["code"] == code
    assert res.json()["error"]["message"]


def test_truncated_jpeg(client, astronaut_jpeg):
    res = client.post("/v1/predict", files={"file": ("cut.jpg", astronaut_jpeg[: len(astronaut_jpeg) // 3])})
    assert res.status_code == 415 and "not a readable image" in res.json()["error"]["message"]


def test_pixel_bomb_is_refused_before_decoding(client):
    bomb = png_bytes((10_000, 10_000), "1")  # 100 megapixels, a few kB compressed
    assert len(bomb) < 200_000
    res = client.post("/v1/predict", files={"file": ("bomb.png", bomb)})
    assert res.status_code == 413 and res.json()["error"]["code"] == "too_large"


def test_upload_byte_limit(predictor):
    with TestClient(create_app(ServeSettings(max_upload_bytes=1000), predictor)) as c:
        res = c.post("/v1/predict", files={"file": ("big.png", png_bytes((300, 300)) + b"\0" * 5000)})
    assert res.status_code == 413


def test_model_card_health_metrics(client, astronaut_jpeg):
    card = client.get("/v1/model").json()
    assert card["classes"] == ["circle", "square", "triangle"] and "root" not in card["training"]["data"]
    assert client.get("/healthz").json()["status"] == "ok"
    client.post("/v1/predict", files={"file": ("a.jpg", astronaut_jpeg)})
    routes = client.get("/metrics").json()["routes"]
    assert routes["/v1/predict"]["requests"] >= 1 and routes["/v1/predict"]["latency_ms"]["p50"] > 0
    assert "/v1/predict" in client.get("/openapi.json").json()["paths"]


def test_api_key_and_cors(predictor, astronaut_jpeg):
    app = create_app(ServeSettings(host="0.0.0.0", api_key="s3cret"), predictor)
    with TestClient(app) as c:
        assert c.post("/v1/predict", files={"file": ("a.jpg", astronaut_jpeg)}).status_code == 401
        assert c.post("/v1/predict", files={"file": ("a.jpg", astronaut_jpeg)},
                      headers={"X-API-Key": "wrong"}).status_code == 401
        assert c.post("/v1/predict", files={"file": ("a.jpg", astronaut_jpeg)},
                      headers={"X-API-Key": "s3cret"}).status_code == 200
        assert c.get("/healthz").status_code == 200
        res = c.get("/healthz", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in res.headers  # CORS off by default


def test_public_bind_without_key_is_refused():
    with pytest.raises(ConfigError, match="--api-key-env"):
        ServeSettings(host="0.0.0.0").check()


def test_saturated_server_answers_503_with_retry_after(predictor, astronaut_jpeg):
    release = threading.Event()

    class SlowPredictor:
        def __getattr__(self, name):
            return getattr(predictor, name)

        def predict_with_crops(self, *args, **kwargs):
            release.wait(10)
            return predictor.predict_with_crops(*args, **kwargs)

    app = create_app(ServeSettings(max_concurrency=1), SlowPredictor())

    async def scenario():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            first = asyncio.create_task(c.post("/v1/predict", files={"file": ("a.jpg", astronaut_jpeg)}))
            await asyncio.sleep(0.3)
            second = await c.post("/v1/predict", files={"file": ("a.jpg", astronaut_jpeg)})
            release.set()
            return await first, second

    first, second = asyncio.run(scenario())
    assert first.status_code == 200
    assert second.status_code == 503 and second.headers["retry-after"] == "1"


def test_timeout_answers_504(predictor, astronaut_jpeg):
    finished = threading.Event()

    class Stuck:
        def __getattr__(self, name):
            return getattr(predictor, name)

        def predict_with_crops(self, *args, **kwargs):
            time.sleep(1.0)
            try:
                return predictor.predict_with_crops(*args, **kwargs)
            finally:
                finished.set()

    with TestClient(create_app(ServeSettings(timeout_s=0.2), Stuck())) as c:
        res = c.post("/v1/predict", files={"file": ("a.jpg", astronaut_jpeg)})
        assert finished.wait(20)  # the abandoned inference still ends on its own
    assert res.status_code == 504 and res.json()["error"]["code"] == "timeout"
