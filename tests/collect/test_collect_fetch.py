"""fetch() and the host limiter with httpx.MockTransport: retry rules, deadlines, limits (no sockets)."""

from __future__ import annotations

import email.utils
import threading
import time

import httpx
import pytest

from facexp.collect import CollectConfig, DownloadFailed, HostLimiter, fetch, make_client
from facexp.errors import ConfigError

CFG = CollectConfig(workers=2, rate=0, read_timeout=0.2, max_time=0.3, retries=2, backoff=0.01, max_retry_after=5)


def client_for(handler) -> httpx.Client:
    return make_client(CFG, transport=httpx.MockTransport(handler))


def test_5xx_retried_then_body_returned_whatever_the_content_type():
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(503) if len(calls) == 1 else httpx.Response(200, content=b"body", headers={
            "Content-Type": "text/html"})

    assert fetch("https://h/x.jpg", client=client_for(handler), config=CFG) == b"body"
    assert len(calls) == 2 and calls[0].headers["user-agent"].startswith("facexp/")


def test_retry_after_longer_than_allowed_fails_at_once_with_advice():
    calls = []
    later = email.utils.formatdate(time.time() + 3600, usegmt=True)  # HTTP-date form

    def handler(request):
        calls.append(request)
        return httpx.Response(429, headers={"Retry-After": later})

    with pytest.raises(DownloadFailed, match="asks to wait 3[56]\\d\\ds; rerun later") as info:
        fetch("https://h/x.jpg", client=client_for(handler), config=CFG)
    assert info.value.reason == "http 429" and len(calls) == 1


def test_4xx_is_final():
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(403)

    with pytest.raises(DownloadFailed) as info:
        fetch("https://h/x.jpg", client=client_for(handler), config=CFG)
    assert info.value.reason == "http 403" and len(calls) == 1


def test_trickling_body_hits_the_per_attempt_deadline():
    class Trickle(httpx.SyncByteStream):
        def __iter__(self):
            for _ in range(50):
                time.sleep(0.02)
                yield b"x"

    cfg = CollectConfig(rate=0, read_timeout=0.1, max_time=0.15, retries=0)
    client = make_client(cfg, transport=httpx.MockTransport(lambda r: httpx.Response(200, stream=Trickle())))
    start = time.monotonic()
    with pytest.raises(DownloadFailed) as info:
        fetch("https://h/x.jpg", client=client, config=cfg)
    assert info.value.reason == "timeout" and time.monotonic() - start < 0.6


def test_connection_errors_retried_and_reported():
    def handler(request):
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(DownloadFailed, match="ConnectError.*3 attempts") as info:
        fetch("https://h/x.jpg", client=client_for(handler), config=CFG)
    assert info.value.reason == "connection"


def test_stop_event_interrupts_the_backoff():
    stop = threading.Event()
    stop.set()
    with pytest.raises(DownloadFailed, match="interrupted"):
        fetch("https://h/x.jpg", client=client_for(lambda r: httpx.Response(200, content=b"x")), config=CFG, stop=stop)


def test_host_limiter_bounds_concurrency_and_rate():
    limiter = HostLimiter(per_host=2, rate=50)
    in_flight, peak, lock = [0], [0], threading.Lock()

    def work():
        with limiter.slot("h"):
            with lock:
                in_flight[0] += 1
                peak[0] = max(peak[0], in_flight[0])
            time.sleep(0.02)
            with lock:
                in_flight[0] -= 1

    start = time.monotonic()
    threads = [threading.Thread(target=work) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 2
    assert time.monotonic() - start >= 9 / 50  # 10 starts at 50/s
    with limiter.slot("other"):  # hosts are independent
        pass


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError, match="--workers must be at least 1"):
        CollectConfig(workers=0)
    with pytest.raises(ConfigError, match="--rate"):
        CollectConfig(rate=-1)
