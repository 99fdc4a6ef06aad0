"""How the app is served: `launch_options(settings)` says how to serve it safely, `serve(settings)` does it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import ConfigError


def theme() -> Any:
    """System fonts only: the app makes no request to a third party (nor needs the internet). Indigo, with the shades
    that carry text (500 and darker) two steps darker than Gradio's, so white on a primary button and primary text on
    the light surfaces pass WCAG AA (4.5:1), under the pointer too."""
    import gradio as gr

    indigo = gr.themes.Color(
        c50="#eef2ff",
        c100="#e0e7ff",
        c200="#c7d2fe",
        c300="#a5b4fc",
        c400="#6366f1",
        c500="#4338ca",
        c600="#3730a3",
        c700="#312e81",
        c800="#2a2670",
        c900="#1e1b4b",
        c950="#17153b",
        name="atlas-indigo",
    )
    return gr.themes.Soft(
        primary_hue=indigo,
        neutral_hue="slate",
        font=["ui-sans-serif", "system-ui", "Segoe UI", "Helvetica Neue", "sans-serif"],
        font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"],
    ).set(button_primary_background_fill_hover="*primary_700")  # Soft's hover, primary_400, was 4.46:1 under white


def launch_options(settings: Settings) -> dict[str, Any]:
    """The Gradio options `serve` mounts the app with: local only, no share link, no MCP server, no server-side
    rendering, and file routes that can serve no corpus, index or other file of the machine. (`build_app(atlas)
    .launch(**launch_options(settings))` also works, for one person, without accounts or the REST API.)"""
    blocked = {str(Path(settings.corpus).resolve()), str(Path(settings.index_dir).resolve())}
    return {
        "server_name": settings.host,
        "server_port": settings.port,
        "share": False,
        "allowed_paths": [],
        "blocked_paths": sorted(blocked),
        "max_file_size": "1mb",  # the app takes no uploads; Gradio's upload route stays small
        "show_error": False,
        "ssr_mode": False,
        "mcp_server": False,
        "theme": theme(),
        # No "Use via API" page: its client snippet has no sign-in, and it shows everyone's request counts and
        # latency; the header links to the REST API's documentation (/api/v1/docs) instead.
        "footer_links": ["settings"],
    }


def serve(settings: Settings, ingest: bool = True, env: dict[str, str] | None = None) -> None:
    """Index the corpus if needed, then serve the app and its API on settings.host:settings.port with uvicorn.

    With no users (and no proxy sign-on) configured, only 127.0.0.1 may be used, and the start message says so.
    """
    env = dict(os.environ if env is None else env)
    if env.get("ATLAS_QA_AUTH"):
        raise ConfigError("ATLAS_QA_AUTH (one shared login) is replaced by accounts: `atlas-qa users add NAME ...`.")
    from ..access import Access, allowed_hosts
    from ..core import Atlas

    access = Access.for_settings(settings)
    access.check_local_host()  # wrong settings fail before the slow part
    allowed_hosts(settings)
    atlas = Atlas(settings)
    if ingest:
        report = atlas.ingest(progress=True)
        print("\n".join(report.summary()))
    run(settings, atlas, access)


def run(settings: Settings, atlas: Any, access: Any) -> None:
    """Serve the app over `atlas` until interrupted (uvicorn; the client address is the direct peer's)."""
    import uvicorn

    from ..server import create_app

    app = create_app(settings, atlas, access)
    url = f"http://{settings.host}:{settings.port}"
    if access.local:
        print(f"No users configured: serving one person at {url} (this machine only). Add accounts with")
        print("`atlas-qa users add NAME --role student|instructor|admin --course C --password-stdin` to serve a class.")
    else:
        print(f"Serving {settings.served_courses()} at {url}; sign in at {url}/login, API at {url}/api/v1/docs.")
    uvicorn.run(app, host=settings.host, port=settings.port, proxy_headers=False, log_level="warning")
