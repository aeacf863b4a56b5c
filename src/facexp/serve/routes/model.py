"""GET /v1/model: the model card, so a client knows the classes and how the model was trained."""

from __future__ import annotations

from fastapi import APIRouter

from ..answers import model_card
from ..deps import ServiceDep
from ..schemas import error_responses

router = APIRouter(prefix="/v1", tags=["model"])


@router.get("/model", responses=error_responses(401, 503))
async def get_model(service: ServiceDep) -> dict:
    """The model.json card: arch, classes, image and face settings, training summary (no file paths)."""
    return model_card(service.predictor.bundle)
