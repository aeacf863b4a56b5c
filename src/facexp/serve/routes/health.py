"""GET /healthz (open, for load balancers) and GET /metrics (behind the API key when one is set)."""

from __future__ import annotations

from fastapi import APIRouter

from ... import __version__
from ..deps import ServiceDep
from ..schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz() -> dict:
    """Liveness: answers as soon as the worker serves requests (the model is loaded before that)."""
    return {"status": "ok", "version": __version__}


@router.get("/metrics")
async def metrics(service: ServiceDep) -> dict:
    """Requests by route and status since start, latency p50/p95/max, predictions in flight."""
    return service.metrics.snapshot(in_flight=service.in_flight)
