"""GET /healthz (open, for load balancers), GET /metrics and /metrics.json (behind the API key when one is set)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from ... import __version__
from ..deps import ServiceDep
from ..schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz() -> dict:
    """Liveness: answers as soon as the worker serves requests (the model is loaded before that)."""
    return {"status": "ok", "version": __version__}


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(service: ServiceDep) -> PlainTextResponse:
    """Prometheus text format: requests by route and status, latency quantiles, predictions in flight."""
    return PlainTextResponse(service.metrics.prometheus(in_flight=service.in_flight),
                             media_type="text/plain; version=0.0.4; charset=utf-8")


@router.get("/metrics.json")
async def metrics_json(service: ServiceDep) -> dict:
    """The same numbers as JSON: requests by route and status, latency p50/p95/max, predictions in flight."""
    return service.metrics.snapshot(in_flight=service.in_flight)
