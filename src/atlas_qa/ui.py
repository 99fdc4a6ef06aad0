"""The Gradio chat app: `build_app(atlas)` makes the Blocks, `serve(settings)` launches it. Thin over `Atlas`."""

from __future__ import annotations

import html
import os
from typing import Any

from .config import Settings
from .errors import AtlasError
from .types import Answer

EXAMPLES = [
    "Who argued that IT-enabled government could consolidate functions previously located separately in each department?",
    "How has digital technology changed public service delivery?",
]


def render_sources(answer: Answer) -> str:
    """The sources panel as Markdown; course text is escaped so nothing in a page can run as HTML."""
    if answer.refused:
        pages = ", ".join(html.escape(p) for p in answer.closest_pages) or "none"
        return f"**Not covered by the course material.** Closest pages: {pages}"
    parts = []
    for c in answer.citations:
        head = f"**[{c.n}] {html.escape(c.title)}**" + (f" › {html.escape(c.section)}" if c.section else "")
        who = f"\n\n*{html.escape(c.chain or c.speaker)}*" if (c.chain or c.speaker) else ""
        body = html.escape(" ".join(c.text.split()))
        refs = "".join(f"\n- {html.escape(x.label)}: {html.escape(x.reference or 'not in the page references')}" for x in c.cites)
        parts.append(f"{head}{who}\n\n> {body}\n{refs}")
    return "\n\n---\n\n".join(parts)


def respond(atlas: Any, question: str, history: list[dict[str, str]]) -> tuple[list[dict[str, str]], str, str]:
    """One chat turn: (new history, sources Markdown, cleared textbox)."""
    history = list(history or [])
    try:
        answer = atlas.ask(question)
        reply, sources = html.escape(answer.answer), render_sources(answer)
    except AtlasError as exc:
        reply, sources = str(exc), ""
    history += [{"role": "user", "content": html.escape(question)}, {"role": "assistant", "content": reply}]
    return history, sources, ""


def build_app(atlas: Any) -> Any:
    import gradio as gr

    with gr.Blocks(title="atlas-qa") as app:
        gr.Markdown("# atlas-qa\nAsk about the course material; every answer cites its passages.")
        with gr.Row():
            with gr.Column(scale=3):
                chat = gr.Chatbot(label="Conversation", height=480)
                box = gr.Textbox(label="Question", placeholder="Ask a question about the course…", max_length=1000)
                with gr.Row():
                    send = gr.Button("Ask", variant="primary")
                    clear = gr.Button("Clear conversation")
                gr.Examples(EXAMPLES, inputs=box)
            with gr.Column(scale=2):
                sources = gr.Markdown(label="Sources")
        send.click(lambda q, h: respond(atlas, q, h), [box, chat], [chat, sources, box])
        box.submit(lambda q, h: respond(atlas, q, h), [box, chat], [chat, sources, box])
        clear.click(lambda: ([], "", ""), None, [chat, sources, box])
    return app


def serve(settings: Settings, ingest: bool = True) -> None:
    """Index the corpus if needed, then serve the app on settings.host:settings.port (local only by default)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from .core import Atlas

    atlas = Atlas(settings)
    if ingest:
        report = atlas.ingest(progress=True)
        print(f"Index ready: {report.chunks} chunks ({report.embedded} embedded now).")
    app = build_app(atlas)
    app.queue(default_concurrency_limit=4).launch(server_name=settings.host, server_port=settings.port, share=False)
