"""The API's documentation page (`/api/v1/docs`): Swagger UI from the packaged `swagger-ui-bundle-v2` assets, so the
page renders with no network (FastAPI's default loads Swagger UI from a CDN: blank on a school's offline network)."""

from __future__ import annotations

from typing import Any

from .errors import ConfigError


def mount_docs(app: Any, path: str, openapi_url: str) -> None:
    """Serve Swagger UI over `openapi_url` at `path`, its scripts and styles under `path + "/assets"`."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import HTMLResponse
    from fastapi.staticfiles import StaticFiles

    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        raise ConfigError("The API docs page needs swagger-ui-bundle-v2: `pip install swagger-ui-bundle-v2`.") from None
    assets = f"{path}/assets"
    app.mount(assets, StaticFiles(directory=str(swagger_ui_path)), name="api-docs-assets")

    @app.get(path, include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} · docs",
            swagger_js_url=f"{assets}/swagger-ui-bundle.js",
            swagger_css_url=f"{assets}/swagger-ui.css",
            swagger_favicon_url=f"{assets}/favicon-32x32.png",
        )
