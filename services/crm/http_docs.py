"""`/docs` of every HTTP service, working offline: Swagger UI's files are served by the service.

They come from the `swagger-ui-dist` npm package (Swagger's own build, Apache-2.0, its LICENSE
and NOTICE beside them in `crm/swagger_ui/`), unchanged. To move to another release: `npm pack
swagger-ui-dist@VERSION`, copy the files `_ASSETS` names from its `package/`, and update
`SWAGGER_UI_VERSION`.
"""

from pathlib import Path

from fastapi import FastAPI, HTTPException, Request, Response, status
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse

SWAGGER_UI_VERSION = "5.35.0"
SWAGGER_UI = Path(__file__).resolve().parent / "swagger_ui"
_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
    "LICENSE": "text/plain; charset=utf-8",
    "NOTICE": "text/plain; charset=utf-8",
}
_ASSETS_PATH = "/docs/assets"


def add_offline_docs(app: FastAPI) -> None:
    """`/docs`, its OAuth2 redirect page and `/docs/assets/*`; the app is made with `docs_url=None`
    (FastAPI's own page loads Swagger UI from a CDN)."""

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{_ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{_ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{_ASSETS_PATH}/favicon-32x32.png",
            oauth2_redirect_url=f"{root}/docs/oauth2-redirect",
            # Swagger UI would otherwise send the document to an online validator for its badge.
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(f"{_ASSETS_PATH}/{{asset}}", include_in_schema=False)
    async def swagger_ui_asset(asset: str) -> Response:
        if asset not in _ASSETS:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no file {asset!r} of Swagger UI here")
        return Response(
            (SWAGGER_UI / asset).read_bytes(),
            media_type=_ASSETS[asset],
            headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
        )
