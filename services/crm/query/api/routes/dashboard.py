"""The dashboard page at `/` and its two static files (no build step, nothing from a CDN)."""

from pathlib import Path

from fastapi import APIRouter, HTTPException, Response

router = APIRouter(include_in_schema=False)

DASHBOARD = Path(__file__).resolve().parents[2] / "dashboard"
_FILES = {
    "index.html": "text/html; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}
# The page only talks to this origin; nothing inline, nothing remote.
_CSP = "default-src 'self'; img-src 'self' data:; object-src 'none'; frame-ancestors 'none'; base-uri 'none'"


def _file(name: str) -> Response:
    return Response(
        (DASHBOARD / name).read_bytes(),
        media_type=_FILES[name],
        headers={"Content-Security-Policy": _CSP, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
    )


@router.get("/")
async def dashboard_page() -> Response:
    return _file("index.html")


@router.get("/dashboard/{name}")
async def dashboard_asset(name: str) -> Response:
    if name not in _FILES:
        raise HTTPException(404, "not found")
    return _file(name)
