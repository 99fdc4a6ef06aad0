"""How the app is served: `launch_options(settings)` says how to serve it safely, `serve(settings)` does it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import ConfigError


def parse_auth(value: str) -> tuple[str, str] | None:
    """`ATLAS_QA_AUTH="user:password"` -> ("user", "password"); empty -> None (no login)."""
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise ConfigError("ATLAS_QA_AUTH must be user:password (both non-empty).")
    return user, password


def theme() -> Any:
    """System fonts only: the app makes no request to a third party (nor needs the internet)."""
    import gradio as gr

    return gr.themes.Soft(
        primary_hue="indigo",
        neutral_hue="slate",
        font=["ui-sans-serif", "system-ui", "Segoe UI", "Helvetica Neue", "sans-serif"],
        font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"],
    )


def launch_options(settings: Settings, env: dict[str, str] | None = None) -> dict[str, Any]:
    """How `serve` launches the app: local only, no share link unless ATLAS_QA_SHARE=1, a login if ATLAS_QA_AUTH is
    set, and file routes that can serve no corpus, index or other file of the machine."""
    env = dict(os.environ if env is None else env)
    blocked = {str(Path(settings.corpus).resolve()), str(Path(settings.index_dir).resolve())}
    return {
        "server_name": settings.host,
        "server_port": settings.port,
        "share": env.get("ATLAS_QA_SHARE", "").lower() in ("1", "true", "yes"),
        "auth": parse_auth(env.get("ATLAS_QA_AUTH", "")),
        "auth_message": "Sign in to ask about the course material.",
        "allowed_paths": [],
        "blocked_paths": sorted(blocked),
        "max_file_size": "1mb",  # the app takes no uploads; Gradio's upload route stays small
        "show_error": False,
        "ssr_mode": False,
        "mcp_server": False,
        "theme": theme(),
    }


def serve(settings: Settings, ingest: bool = True) -> None:
    """Index the corpus if needed, then serve the app on settings.host:settings.port (local only by default)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from ..core import Atlas
    from .app import build_app

    options = launch_options(settings)  # a bad ATLAS_QA_AUTH fails before the slow part
    atlas = Atlas(settings)
    if ingest:
        report = atlas.ingest(progress=True)
        print(f"Index ready: {report.chunks} passages ({report.embedded} embedded now).")
        for s in report.skipped:
            print(f"skipped {s.path}: {s.reason}")
    build_app(atlas).launch(**options)
