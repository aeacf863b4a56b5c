"""Decisions, undo, quarantine and apply through the store and the review API (no browser, no model)."""

from __future__ import annotations

import sqlite3

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from clean_helpers import item_row, manifest_rows, reviewed_dataset
from facexp.cli import app
from facexp.clean import CleanStore, apply_decisions
from facexp.clean.find import open_dataset
from facexp.clean.review import create_review_app
from facexp.errors import ConfigError, DataError
from facexp.serve.settings import ServeSettings


def item_count(root) -> int:
    with sqlite3.connect(root / "manifest.sqlite") as c:
        return c.execute("SELECT COUNT(*) FROM items").fetchone()[0]


def client(root, **settings) -> TestClient:
    return TestClient(create_review_app(root, ServeSettings(**settings)), base_url="http://127.0.0.1:8001")


def test_decisions_survive_a_new_connection_and_undo_restores_files(reviewed):
    with CleanStore(reviewed) as store:
        first, second, third = store.suspects()[:3]
        store.decide(first["item_id"], "relabel", "square")
        store.decide(second["item_id"], "aside")
        store.decide(third["item_id"], "keep")
    aside_path, _ = item_row(reviewed, second["item_id"])
    assert aside_path == f".quarantine/{second['path']}"
    assert (reviewed / aside_path).is_file() and not (reviewed / second["path"]).exists()
    with CleanStore(reviewed) as other:  # a second tab, or the server after a kill
        decided = {s["item_id"]: s["decision"] for s in other.suspects()}
        assert decided[first["item_id"]]["action"] == "relabel" and decided[first["item_id"]]["label"] == "square"
        assert decided[second["item_id"]]["action"] == "aside"
        assert other.undo()["item_id"] == third["item_id"]  # the latest first
        assert other.undo() == {"item_id": second["item_id"], "decision": None}
    assert item_row(reviewed, second["item_id"])[0] == second["path"] and (reviewed / second["path"]).is_file()
    assert not (reviewed / ".quarantine" / second["path"]).exists()


def test_a_changed_mind_is_logged_and_undone_step_by_step(reviewed):
    with CleanStore(reviewed) as store:
        item = store.suspects()[0]["item_id"]
        store.decide(item, "aside")
        store.decide(item, "relabel", "triangle")  # changed mind: the file comes back out of quarantine
        assert not item_row(reviewed, item)[0].startswith(".quarantine/")
        store.undo()
        assert item_row(reviewed, item)[0].startswith(".quarantine/")  # back to "aside"
        with pytest.raises(DataError, match="relabel to 'zebra'"):
            store.decide(item, "relabel", "zebra")


def test_apply_moves_relabelled_files_in_a_plain_folder(reviewed):
    with CleanStore(reviewed) as store:
        first, second = store.suspects()[:2]
        store.decide(first["item_id"], "relabel", "triangle")
        store.decide(second["item_id"], "aside")
    report = apply_decisions(reviewed)
    name = first["path"].split("/")[-1]
    assert report.plain_folder and report.relabelled == [(f"triangle/{name}", "circle", "triangle")]
    assert (reviewed / "triangle" / name).is_file() and not (reviewed / first["path"]).exists()
    rows = manifest_rows(reviewed)
    assert rows[f"triangle/{name}"] == "triangle" and second["path"] not in rows
    assert not any(p.startswith(".quarantine") for p in rows)
    assert "1 relabelled (moved to their class folders), 1 set aside" in report.summary_line()
    again = apply_decisions(reviewed)  # idempotent
    assert again.relabelled == [] and (reviewed / "triangle" / name).is_file()
    before = item_count(reviewed)
    open_dataset(reviewed)  # the next `clean find` re-indexes: moved and set-aside files are not new items
    assert item_count(reviewed) == before
    with CleanStore(reviewed) as store, pytest.raises(DataError, match="applied"):
        store.decide(first["item_id"], "keep")


def test_apply_only_rewrites_manifest_csv_for_a_collect_dataset(tmp_path):
    root = reviewed_dataset(tmp_path / "collected", collected_from=tmp_path / "src")
    with CleanStore(root) as store:
        first = store.suspects()[0]
        store.decide(first["item_id"], "relabel", "triangle")
    result = CliRunner().invoke(app, ["clean", "apply", str(root)])
    assert result.exit_code == 0, result.output
    assert f"relabelled {first['path']}: circle → triangle" in result.output
    assert "1 relabelled (relabelled in manifest.csv)" in result.output and "facexp train" in result.output
    assert (root / first["path"]).is_file()  # the file stays
    assert manifest_rows(root)[first["path"]] == "triangle"


def test_review_api_round_trip(reviewed):
    with client(reviewed) as c:
        page = c.get("/")
        assert page.status_code == 200 and "review.js" in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
        state = c.get("/api/state").json()
        assert state["classes"] == ["circle", "square", "triangle"] and len(state["suspects"]) == 5
        item = state["suspects"][0]["item_id"]
        image = c.get(f"/api/image/{item}")
        assert image.status_code == 200 and image.content[:2] == b"\xff\xd8"
        assert c.post("/api/decide", json={"item_id": item, "action": "relabel", "label": "square"}).json()["label"] == "square"
        assert c.get("/api/state").json()["suspects"][0]["decision"]["action"] == "relabel"
        assert c.post("/api/undo", json={}).json()["undone"]["item_id"] == item
        assert c.post("/api/undo", json={}).json() == {"undone": None}


def test_review_api_safety(reviewed):
    with client(reviewed) as c:
        with CleanStore(reviewed) as store:
            unlisted = max(s["item_id"] for s in store.suspects()) + 1
        assert c.get(f"/api/image/{unlisted}").status_code == 404  # only suspects, never a path
        form = c.post("/api/decide", content="item_id=1&action=aside", headers={"Content-Type": "text/plain"})
        assert form.status_code == 415  # a cross-site form cannot post JSON without a preflight
        foreign = c.post("/api/decide", json={"item_id": 1, "action": "keep"}, headers={"Origin": "http://evil.test"})
        assert foreign.status_code == 403
        rebound = c.get("/api/state", headers={"Host": "evil.test:8001"})
        assert rebound.status_code == 400  # DNS rebinding
        bad = c.post("/api/decide", json={"item_id": 1, "action": "delete"})
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "bad_request"
    with pytest.raises(ConfigError, match="API key"):
        create_review_app(reviewed, ServeSettings(host="0.0.0.0"))
    with client(reviewed, api_key="s3cret") as c:
        assert c.get("/").status_code == 200  # the page asks for the key itself
        assert c.get("/api/state").status_code == 401
        assert c.get("/api/state", headers={"X-API-Key": "s3cret"}).status_code == 200
