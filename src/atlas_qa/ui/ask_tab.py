"""The Ask tab's components (filters, chat, question box, feedback, sources and page panels) and their events."""

# No `from __future__ import annotations` here: Gradio finds the event-data parameters of the callbacks (gr.LikeData,
# gr.EventData) by their annotations, which must be real objects since `gradio` is only imported by the caller.

import re
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

from ..core import MAX_QUESTION_CHARS
from ..ratings import MAX_COMMENT_CHARS
from .chat import ChatTurn
from .render import asset
from .sources import FACETS, WELCOME
from .views import Views


def facet_choices(name: str, facets: dict[str, list[str]]) -> list[tuple[str, str]]:
    """A filter's choices: ("Any course", "") then each value the pages have."""
    return [(f"Any {name}", ""), *((v, v) for v in facets.get(name, []))]


def build_ask_tab(gr: Any, views: Views, reviewing: bool = False) -> SimpleNamespace:
    """The Ask tab, inside the caller's `gr.Tabs`; returns its components by name. `reviewing`: show the instructors'
    row under the chat (endorse or review the latest answer) from the start (else hidden until an instructor loads)."""
    facets = views.facets()
    examples = views.examples()
    with gr.Tab("Ask", id="ask", elem_id="aq-tab-ask"):
        with gr.Row(equal_height=False):
            with gr.Column(scale=11, min_width=420):
                with gr.Row(elem_id="aq-filters", visible=bool(facets), equal_height=True) as filter_row:
                    filters = [
                        gr.Dropdown(
                            facet_choices(f, facets),
                            value="",
                            show_label=False,
                            container=False,
                            label=f.capitalize(),
                            visible=bool(facets.get(f)),
                            elem_id=f"aq-filter-{f}",
                            scale=1,
                            min_width=140,
                        )
                        for f in FACETS
                    ]
                chat = gr.Chatbot(
                    elem_id="aq-chat",
                    label="Conversation",
                    show_label=False,
                    height=560,
                    latex_delimiters=[],
                    buttons=[],
                    placeholder=(
                        "### Ask about the course\nAnswers are quoted from the course pages. Each sentence "
                        "ends with a marker such as [1]: click it to see the passage, who said it, and the "
                        "works cited. Follow-up questions (“what did he say about…?”) keep the conversation's "
                        "context."
                    ),
                )
                with gr.Row(elem_id="aq-examples", visible=bool(examples)) as examples_row:
                    example_buttons = [
                        gr.Button(q, size="sm", variant="secondary", scale=0, elem_classes=["aq-example"])
                        for q in examples
                    ]
                with gr.Row(elem_id="aq-ask-row"):
                    box = gr.Textbox(
                        show_label=False,
                        placeholder="Ask a question about the course…",
                        max_length=MAX_QUESTION_CHARS,
                        lines=1,
                        max_lines=6,
                        scale=8,
                        elem_id="aq-box",  # focused on load without scrolling (sources.js), not `autofocus`
                    )
                    send = gr.Button("Ask", variant="primary", scale=0, min_width=100, elem_id="aq-send")
                    clear = gr.Button(
                        "Clear conversation", variant="secondary", scale=0, min_width=220, elem_id="aq-clear"
                    )
                with gr.Row(visible=reviewing, elem_id="aq-review-row", equal_height=True) as review_row:
                    endorse_latest = gr.Button(
                        "Endorse the latest answer", size="sm", scale=0, min_width=230, elem_id="aq-endorse-latest"
                    )
                    review_latest = gr.Button(
                        "Review the latest answer…", size="sm", scale=0, min_width=230, elem_id="aq-review-latest"
                    )
                    review_status = gr.HTML("", elem_id="aq-review-row-status", js_on_load=None)
                with gr.Group(visible=False, elem_id="aq-feedback") as feedback_box:
                    feedback_note = gr.Markdown(elem_id="aq-feedback-note")
                    with gr.Row():
                        comment = gr.Textbox(
                            show_label=False,
                            placeholder="What was useful, wrong or missing? (optional)",
                            max_length=MAX_COMMENT_CHARS,
                            scale=6,
                            elem_id="aq-comment",
                        )
                        comment_send = gr.Button("Send comment", scale=0, min_width=170, elem_id="aq-comment-send")
            with gr.Column(scale=9, min_width=360, elem_id="aq-side"):
                with gr.Tabs(elem_id="aq-side-tabs") as side:
                    with gr.Tab("Sources", id="sources", elem_id="aq-tab-sources"):
                        sources = gr.HTML(WELCOME, elem_id="aq-sources", js_on_load=asset("sources.js"))
                    with gr.Tab("Page", id="page", elem_id="aq-tab-page"):
                        page = gr.HTML(Views.page_empty(), elem_id="aq-page", js_on_load=asset("page.js"))
    skip = ("gr", "views", "facets", "examples", "q", "reviewing")
    return SimpleNamespace(**{k: v for k, v in locals().items() if k not in skip})


def wire_ask_tab(gr: Any, views: Views, ui: SimpleNamespace, states: SimpleNamespace, after: SimpleNamespace) -> None:
    """The Ask tab's events. `states`: turns, rated, rated_turn; `after`: what to refresh once an answer is in
    (`outputs`, `fn`) and on clearing (`clear_outputs`, `clear_values`)."""
    turns, rated, rated_turn = states.turns, states.rated, states.rated_turn
    hidden: dict[str, Any] = {"show_progress": "hidden", "api_visibility": "private"}

    def on_ask(
        question: str, state: list[ChatTurn], course: str, topic: str, chapter: str, request: gr.Request
    ) -> Iterator[tuple[Any, ...]]:
        chosen = dict(zip(FACETS, (course, topic, chapter)))
        for messages, html_, new_state in views.stream(question, state, chosen, user=views.who(request)):
            yield (
                messages,
                gr.skip() if html_ is None else html_,
                new_state,
                "",
                gr.Tabs(selected="sources"),
                gr.skip(),
                gr.Row(visible=False),
            )

    ask_outputs = [ui.chat, ui.sources, turns, ui.box, ui.side, ui.feedback_box, ui.examples_row]
    ask_args: dict[str, Any] = {**hidden, "concurrency_id": "ask"}
    for trigger in (ui.send.click, ui.box.submit):
        trigger(on_ask, [ui.box, turns, *ui.filters], ask_outputs, **ask_args).then(
            after.fn, [turns], after.outputs, **hidden
        )

    for button in ui.example_buttons:  # an example is asked as if typed (the button's label is the question)
        button.click(on_ask, [button, turns, *ui.filters], ask_outputs, **ask_args).then(
            after.fn, [turns], after.outputs, **hidden
        )

    def on_clear() -> tuple[Any, ...]:
        return (
            [],
            WELCOME,
            [],
            "",
            gr.Tabs(selected="sources"),
            Views.page_empty(),
            {},
            None,
            gr.Group(visible=False),
            gr.Row(visible=bool(ui.example_buttons)),
            *after.clear_values(),
        )

    clear_outputs = [
        ui.chat,
        ui.sources,
        turns,
        ui.box,
        ui.side,
        ui.page,
        rated,
        rated_turn,
        ui.feedback_box,
        ui.examples_row,
        *after.clear_outputs,
    ]
    ui.clear.click(on_clear, None, clear_outputs, **hidden)
    ui.chat.clear(on_clear, None, clear_outputs, **hidden)

    class SourceClick(gr.EventData):  # type: ignore[misc,name-defined]
        """What sources.js sends with a click: the passage to open ("t:n") or the marker cited ("src-t-n"). Gradio
        builds an annotated EventData subclass as its own (`SelectData`, `LikeData`) from (target, data)."""

        def __init__(self, target: Any, data: Any) -> None:
            super().__init__(target, data)
            data = data if isinstance(data, dict) else {}
            self.open, self.cite = str(data.get("open", "")), str(data.get("cite", ""))

    def on_sources_click(state: list[ChatTurn], evt: SourceClick) -> tuple[Any, ...]:
        if m := re.fullmatch(r"(\d+):(\d+)", evt.open):
            return gr.skip(), gr.Tabs(selected="page"), views.page(state, int(m.group(1)), int(m.group(2)))
        if m := re.fullmatch(r"src-(\d+)-(\d+)", evt.cite):
            t, n = int(m.group(1)), int(m.group(2))
            return views.sources(state, t, focus=n), gr.Tabs(selected="sources"), gr.skip()
        return gr.skip(), gr.skip(), gr.skip()

    ui.sources.click(on_sources_click, [turns], [ui.sources, ui.side, ui.page], **hidden)

    def on_like(state: list[ChatTurn], ratings: dict[int, str], evt: gr.LikeData) -> tuple[Any, ...]:
        index = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        note, t = views.rate(state, int(index), evt.liked is True, ratings)
        return gr.Group(visible=True), note, ratings, t, ""

    ui.chat.like(
        on_like,
        [turns, rated],
        [ui.feedback_box, ui.feedback_note, rated, rated_turn, ui.comment],
        **hidden,
    )

    def on_comment(ratings: dict[int, str], t: int | None, text: str) -> tuple[str, str]:
        return views.comment(ratings, t, text), ""

    comment_io = ([rated, rated_turn, ui.comment], [ui.feedback_note, ui.comment])
    ui.comment_send.click(on_comment, *comment_io, **hidden)
    ui.comment.submit(on_comment, *comment_io, **hidden)
