"""How the Gradio app is served: its theme, and `mount_options(settings)`, the safe options `server.create_app`
mounts it with (`server.serve` runs the server); `launch_options` the same for `launch()`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..config import Settings


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


def mount_options(settings: Settings) -> dict[str, Any]:
    """The Gradio options the app is mounted with (`server.create_app`) and launched with (`launch_options`): no MCP
    server, no server-side rendering, no error details, and file routes that can serve no corpus, index or other file
    of the machine."""
    blocked = {str(Path(settings.corpus).resolve()), str(Path(settings.index_dir).resolve())}
    return {
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


def launch_options(settings: Settings) -> dict[str, Any]:
    """`mount_options` for `launch()`: local only, no share link. (`build_app(atlas).launch(**launch_options(settings))`
    also works, for one person, without accounts or the REST API.)"""
    return {"server_name": settings.host, "server_port": settings.port, "share": False, **mount_options(settings)}
