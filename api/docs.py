"""The API's reference page, /docs (Swagger UI), served whole by the API itself: the Swagger UI
files come from the `swagger-ui-bundle-v2` package (Swagger UI 5, which reads the OpenAPI 3.1
that FastAPI writes) instead of a CDN, so the page works offline and on a closed network.
ReDoc, which FastAPI would load from a CDN, is not offered."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

ASSETS = "/docs/assets"


def install(app: FastAPI) -> None:
    """Serve /docs and its assets under /docs/assets/. The app must be made with
    `docs_url=None, redoc_url=None` (FastAPI's own /docs points at a CDN)."""
    app.mount(ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=str(app.openapi_url),
            title=f"{app.title} · docs",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
        )
