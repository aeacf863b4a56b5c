"""Route dependencies: routes ask for the worker's ``Service`` and never build resources themselves."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from .service import Service


def get_service(request: Request) -> Service:
    """The ``Service`` that ``create_app`` attached to this app."""
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(get_service)]
