"""The loopback image host for the collect tests."""

import threading
from http.server import ThreadingHTTPServer

import pytest

from image_host import Handler


@pytest.fixture()
def image_host():
    Handler.hits = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
