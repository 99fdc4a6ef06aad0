"""The Gradio app, thin over `Atlas`: it renders what the library returns. Importing it loads no Gradio.

- `render`: HTML building blocks (everything from the course material escaped);
- `chat`, `sources`, `attribution`, `instructor`: what each part shows (`Views`), plain values in and out;
- `ask_tab`, `instructor_tabs`, `app`: components and their wiring; `serve`: its theme and mount options
  (`server.serve` runs it).
"""

from ..explain import ATTRIBUTION_COLUMNS, chunk_offset, locate
from .app import build_app
from .chat import ChatTurn, render_messages, render_reply
from .render import highlight
from .serve import launch_options
from .views import Views

__all__ = [
    "ATTRIBUTION_COLUMNS",
    "ChatTurn",
    "Views",
    "build_app",
    "chunk_offset",
    "highlight",
    "launch_options",
    "locate",
    "render_messages",
    "render_reply",
]
