"""The REST API in-process (httpx through FastAPI's TestClient): shapes of the answers."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from serve_helpers import png_bytes
from facexp.bundle import ModelBundle
from facexp.serve.answers import model_card
from facexp.serve.app import create_app
from facexp.serve.settings import ServeSettings


@pytest.fixture(scope="module")
def client(predictor):
    with TestClient(create_app(ServeSettings(), predictor)) as c:
        yield c


def test_predict_astronaut(client, astronaut_jpeg):
    res = client.post("/v1/predict", files={"file": ("a.jpg", astronaut_jpeg, "image/jpeg")})
    assert res.status_code == 200, res.text
    body = res.json()
    assert set(body) == {"model", "image", "count", "label", "probs", "faces", "timings_ms"}
    assert body["image"] == {"width": 512, "height": 512} and body["count"] == 1
    face = body["faces"][0]
    assert set(face) == {"box", "score", "label", "probs"}
    x, y, w, h = face["box"]
    assert 100 < x + w / 2 < 350 and 0 < y + h / 2 < 250 and 0.9 <= face["score"] <= 1  # her face, top middle
    assert face["label"] == body["label"] and face["label"] in face["probs"]
    assert abs(sum(face["probs"].values()) - 1) < 1e-3
    assert set(body["timings_ms"]) == {"read", "faces", "classify"}


def test_no_file_paths_in_answers(client, astronaut_jpeg, face_model, shapes_dir):
    texts = [client.post("/v1/predict?annotate=true", files={"file": ("a.jpg", astronaut_jpeg)}).text,
             client.post("/v1/predict", files={"file": ("a.txt", b"text")}).text,
             client.get("/v1/model").text, client.get("/metrics").text]
    server_dirs = [str(face_model), str(shapes_dir), tempfile.gettempdir(), str(Path.cwd()), str(Path.home())]
    for text in texts:
        assert not [d for d in server_dirs if d in text], text[:300]


def test_annotate_and_gradcam(client, astronaut_jpeg):
    body = client.post("/v1/predict?annotate=true&gradcam=true", files={"file": ("a.jpg", astronaut_jpeg)}).json()
    assert body["annotated"].startswith("data:image/jpeg;base64,")
    assert body["faces"][0]["gradcam"].startswith("data:image/png;base64,")


def test_no_face_is_not_an_error(client, tiny_model):
    res = client.post("/v1/predict", files={"file": ("grey.png", png_bytes((300, 200)))})
    assert res.status_code == 200
    assert res.json() | {"timings_ms": None} == {
        "model": tiny_model.parent.name, "image": {"width": 300, "height": 200}, "count": 0, "label": None, "probs": {},
        "faces": [], "timings_ms": None}


def test_batch_answers_each_image_in_order(client, astronaut_jpeg):
    files = [("files", ("a.jpg", astronaut_jpeg)), ("files", ("bad.txt", b"hello")), ("files", ("g.png", png_bytes())),
             ("files", ("empty.jpg", b""))]
    body = client.post("/v1/predict/batch", files=files).json()
    assert body["count"] == 4
    assert body["results"][0]["count"] == 1
    assert body["results"][1]["error"]["code"] == "bad_image"
    assert body["results"][2]["faces"] == []
    assert body["results"][3]["error"]["code"] == "empty"


def test_batch_over_the_image_limit(predictor):
    with TestClient(create_app(ServeSettings(max_batch=2), predictor)) as c:
        res = c.post("/v1/predict/batch", files=[("files", (f"{i}.png", png_bytes())) for i in range(3)])
    assert res.status_code == 413 and res.json()["error"]["code"] == "too_many"


def test_model_card_health_metrics_docs(client, astronaut_jpeg):
    card = client.get("/v1/model").json()
    assert card["classes"] == ["circle", "square", "triangle"] and card["faces"] == {}
    assert "root" not in card["training"]["data"] and "skipped" not in card["training"]["data"]
    assert client.get("/healthz").json()["status"] == "ok"
    client.post("/v1/predict", files={"file": ("a.jpg", astronaut_jpeg)})
    client.post("/v1/predict", files={"file": ("a.txt", b"text")})
    metrics = client.get("/metrics.json").json()
    predict = metrics["routes"]["/v1/predict"]
    assert predict["by_status"]["200"] >= 1 and predict["by_status"]["415"] >= 1
    assert 0 < predict["latency_ms"]["p50"] <= predict["latency_ms"]["p95"] and metrics["in_flight"] == 0
    schema = client.get("/openapi.json").json()
    assert {"/v1/predict", "/v1/predict/batch", "/v1/model", "/healthz", "/metrics", "/metrics.json"} <= set(schema["paths"])
    assert "PredictResponse" in schema["components"]["schemas"]
    docs = client.get("/docs").text  # Swagger UI from this server, not a CDN: it works offline
    assert "/docs-assets/swagger-ui-bundle.js" in docs and "cdn" not in docs.lower()
    assert "SwaggerUIBundle" in client.get("/docs-assets/swagger-ui-bundle.js").text


def test_model_card_drops_paths_anywhere():
    card = {"arch": "x", "classes": ["a"], "training": {"data": {"root": "/data/fer", "counts": {"a": 1}},
                                                       "config": {"init_from": "runs/old/model", "note": "~/x"},
                                                       "files": ["/home/me/a.jpg", "ok"]}}
    bundle = ModelBundle(path=None, model=None, classes=["a"], image=None, card=card)
    assert model_card(bundle) == {"arch": "x", "classes": ["a"], "training": {  # names, not the layout (issue 17)
        "data": {"counts": {"a": 1}}, "config": {"init_from": "old", "note": "x"}, "files": ["a.jpg", "ok"]}}
    assert card["training"]["data"]["root"] == "/data/fer"  # the bundle's own card is untouched


def test_unknown_route_and_method_are_json(client):
    res = client.get("/v1/nothing")
    assert res.status_code == 404 and res.json()["error"]["code"] == "not_found"
    res = client.get("/v1/predict")
    assert res.status_code == 405 and res.json()["error"]["code"] == "method_not_allowed"


def test_page_and_static_files_are_local(client):
    page = client.get("/")
    assert page.status_code == 200 and "<canvas" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for name in ("app.js", "style.css"):
        res = client.get(f"/static/{name}")
        assert res.status_code == 200
        assert not re.search(r"https?://", res.text), f"{name} refers to another host"
    assert not re.search(r"(src|href)=\"(https?:)?//", page.text)


def test_metrics_in_the_prometheus_text_format(client, astronaut_jpeg):
    """What Prometheus scrapes: '# TYPE' lines, then 'name{labels} value' samples, no JSON."""
    client.post("/v1/predict", files={"file": ("a.jpg", astronaut_jpeg)})
    res = client.get("/metrics")
    assert res.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for line in res.text.splitlines():
        if not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)  # every sample line ends in a number
    assert samples['facexp_requests_total{route="/v1/predict",status="200"}'] >= 1
    p50 = samples['facexp_request_duration_seconds{route="/v1/predict",quantile="0.5"}']
    assert 0 < p50 <= samples['facexp_request_duration_seconds{route="/v1/predict",quantile="0.95"}'] < 60
    assert samples['facexp_request_duration_seconds_count{route="/v1/predict"}'] >= 1
    assert samples["facexp_in_flight"] == 0
    assert "# TYPE facexp_requests_total counter" in res.text


def test_answers_name_the_model_by_its_card(client, astronaut_jpeg, tiny_model):
    """`facexp train` names the model after its run (tiny_model is RUN/model), not 'model'."""
    assert client.get("/v1/model").json()["name"] == tiny_model.parent.name
    assert client.post("/v1/predict", files={"file": ("a.jpg", astronaut_jpeg)}).json()["model"] == tiny_model.parent.name
