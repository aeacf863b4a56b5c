"""The review page in headless Chromium (Debian's /usr/bin/chromium) against a real server on 127.0.0.1:
keyboard decisions, undo, a reload, a server restart, then the manifest and the files."""

from __future__ import annotations

import os
import sqlite3
import threading
import time

import pytest
import uvicorn

from clean_helpers import item_row, manifest_rows
from facexp.clean import CleanStore, apply_decisions
from facexp.clean.review import create_review_app
from facexp.serve.settings import ServeSettings
from helpers import free_port, wait_until

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.browser


class Server:
    """``create_review_app`` on uvicorn in a thread; ``stop`` ends it as a killed server would end."""

    def __init__(self, root, port: int):
        app = create_review_app(root, ServeSettings(port=port))
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started and time.time() < deadline:
            time.sleep(0.05)
        assert self.server.started, "uvicorn did not start"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def badges(page) -> list[str]:
    return page.locator("#grid .badge").all_inner_texts()


def test_keyboard_review_survives_reload_and_restart(reviewed, browser):
    with CleanStore(reviewed) as store:
        first, second, third = store.suspects()[:3]  # circle, circle, circle (paths in order)
    port = free_port()
    server = Server(reviewed, port)
    page = browser.new_page()
    try:
        page.goto(f"http://127.0.0.1:{port}/")
        wait_until(page, "document.querySelectorAll('#grid li').length === 5")
        wait_until(page, "Array.from(document.querySelectorAll('#grid img')).every(i => i.naturalWidth > 0)")
        assert "1 circle" in page.locator("#keys").inner_text()
        page.keyboard.press("3")  # relabel the first to the third class
        wait_until(page, "document.querySelectorAll('#grid .badge')[0].textContent.includes('triangle')")
        page.keyboard.press("x")  # focus moved on: set the second aside
        wait_until(page, "document.querySelectorAll('#grid .badge')[1].textContent === 'set aside'")
        page.keyboard.press("k")  # keep the third ...
        wait_until(page, "document.querySelectorAll('#grid .badge')[2].textContent === 'keep'")
        page.keyboard.press("u")  # ... and take it back
        wait_until(page, "document.querySelectorAll('#grid .badge')[2].textContent === 'undecided'")
        assert page.evaluate("document.activeElement.dataset.index") == "2"  # focus follows the undo
        page.keyboard.press("a")  # accept the suggested class ...
        wait_until(page, "document.querySelectorAll('#grid .badge')[2].textContent === 'relabel → square'")
        page.keyboard.press("Control+z")  # ... no: undo again
        wait_until(page, "document.querySelectorAll('#grid .badge')[2].textContent === 'undecided'")
        assert (reviewed / ".quarantine" / second["path"]).is_file()  # moved at once, not at apply
        assert not (reviewed / second["path"]).exists()

        page.reload()
        wait_until(page, "document.querySelectorAll('#grid li').length === 5")
        assert badges(page)[:3] == ["relabel → triangle", "set aside", "undecided"]
        assert "2 of 5 suspects decided" in page.locator("#status").inner_text()

        server.stop()  # the server goes away: nothing was waiting in memory
        server = Server(reviewed, port)
        other = browser.new_page()  # a second tab on the new server
        other.goto(f"http://127.0.0.1:{port}/")
        wait_until(other, "document.querySelectorAll('#grid li').length === 5")
        assert badges(other)[:3] == ["relabel → triangle", "set aside", "undecided"]
        other.close()
    finally:
        page.close()
        server.stop()

    with sqlite3.connect(reviewed / "manifest.sqlite") as c:
        log = c.execute("SELECT action, undone FROM clean_log ORDER BY seq").fetchall()
    assert log == [("relabel", 0), ("aside", 0), ("keep", 1), ("relabel", 1)]
    assert item_row(reviewed, second["item_id"])[0] == f".quarantine/{second['path']}"
    report = apply_decisions(reviewed)
    name = first["path"].split("/")[-1]
    assert (reviewed / "triangle" / name).is_file() and not (reviewed / first["path"]).exists()
    assert item_row(reviewed, first["item_id"]) == (f"triangle/{name}", "triangle")
    assert (reviewed / third["path"]).is_file()  # the undone keep changed nothing
    rows = manifest_rows(reviewed)
    assert rows[f"triangle/{name}"] == "triangle" and second["path"] not in rows
    assert len(report.relabelled) == 1 and report.set_aside == [f".quarantine/{second['path']}"]
