"""GET /: the web page (plain HTML/JS/CSS from the package; no CDN, works offline)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
# The page may only load its own files; photos and heat maps arrive as blob:/data: URLs.
CSP = ("default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob: mediastream:; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'")

router = APIRouter(include_in_schema=False)


@router.get("/")
async def index() -> FileResponse:
    """The page: choose, drop or take a photo; see boxes, labels, probability bars and Grad-CAM."""
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html",
                        headers={"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"})
