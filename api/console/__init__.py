"""The operator's web console: static files the API serves at ``/console`` (no build step: plain HTML, CSS and
JavaScript, and uPlot vendored minified with its licence). The page calls the API's own routes with the key or
token the user logs in with, so the API's role and account rules are the console's."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"
PATH = "/console"


def mount(app: FastAPI) -> None:
    """``/console/`` serves index.html and its assets; ``/console`` redirects there (relative asset URLs)."""

    @app.get(PATH, include_in_schema=False)
    async def console_root() -> RedirectResponse:
        return RedirectResponse(f"{PATH}/")

    app.mount(PATH, StaticFiles(directory=STATIC, html=True), name="console")
