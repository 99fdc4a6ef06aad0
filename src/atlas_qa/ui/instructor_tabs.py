"""The instructors' tabs (Attribution, Corpus, Feedback): components and events."""

# No `from __future__ import annotations`: see ask_tab.py (Gradio reads the callbacks' annotations).

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from .ask_tab import facet_choices
from .chat import ChatTurn
from .sources import FACETS
from .views import Views


def download_button(gr: Any, label: str, path: Path | None, elem_id: str) -> Any:
    """An export: a button holding its file, ready before the click, so one click downloads it (a button that
    made the file on click needed a second click on a Download box). Hidden while there is nothing to export."""
    return gr.DownloadButton(
        label, str(path) if path else None, size="sm", scale=0, min_width=120, elem_id=elem_id, visible=bool(path)
    )


def ready(gr: Any, path: Path | None) -> Any:
    """The update that puts a new file in an export button (or hides it: nothing to export)."""
    return gr.DownloadButton(value=str(path) if path else None, visible=bool(path))


def build_instructor_tabs(gr: Any, views: Views, shown: bool = True) -> SimpleNamespace:
    """The Attribution, Corpus and Feedback tabs, inside the caller's `gr.Tabs`; returns their components by name.

    `shown`: visible and filled from the start (the local app); else hidden and empty until an instructor loads them
    (the page's initial config is the same for everyone, so it must carry no instructor data).
    """
    with gr.Tab("Attribution", id="attribution", elem_id="aq-tab-attribution", visible=shown) as attribution_tab:
        gr.HTML(
            '<div class="aq-intro"><b>For instructors.</b> Check what each answer rests on: every cited '
            "span, its speaker and locator, the works it cites with their full references; and any page as "
            "the system parsed it, with unresolved citations and unused references flagged.</div>",
            js_on_load=None,
        )
        with gr.Row():
            answer_pick = gr.Dropdown([], label="Answer", scale=4, elem_id="aq-answer-pick")
            attr_csv = download_button(gr, "Export CSV", None, "aq-attr-csv")
            attr_json = download_button(gr, "Export JSON", None, "aq-attr-json")
        attr_table = gr.HTML(views.attribution_table([], None), elem_id="aq-attr-table", js_on_load=None)
        gr.HTML('<h3 class="aq-h">Page parse</h3>', js_on_load=None)
        with gr.Row():
            choices = views.page_choices() if shown else []
            page_pick = gr.Dropdown(
                choices,
                value=choices[0][1] if choices else None,
                label="Page",
                scale=4,
                elem_id="aq-page-pick",
                allow_custom_value=True,  # choices arrive per session (on load); an unknown page shows a hint
            )
            first = choices[0][1] if choices else None
            parse_json = download_button(
                gr, "Export JSON", views.export_parse(first) if first else None, "aq-parse-json"
            )
        parse_view = gr.HTML(views.parse_view(choices[0][1] if choices else None), elem_id="aq-parse", js_on_load=None)

    with gr.Tab("Corpus", id="corpus", elem_id="aq-tab-corpus", visible=shown) as corpus_tab:
        gr.HTML(
            '<div class="aq-intro"><b>For instructors.</b> The pages in the index, when each was indexed, '
            "and the files that failed to load with the reason. Re-indexing reads the corpus folder again "
            "and embeds only what changed.</div>",
            js_on_load=None,
        )
        corpus_summary = gr.HTML(views.corpus_summary() if shown else "", elem_id="aq-corpus-summary", js_on_load=None)
        with gr.Row(equal_height=True):
            reindex = gr.Button("Re-index the corpus", variant="primary", scale=0, min_width=240, elem_id="aq-reindex")
            reindex_status = gr.HTML("", elem_id="aq-reindex-status", js_on_load=None)
        corpus_table = gr.Dataframe(
            value=views.corpus_rows() if shown else [],
            headers=["Title", "Chapter", "Page id", "Passages", "Indexed", "Source"],
            datatype=["str", "str", "str", "number", "str", "str"],
            interactive=False,
            wrap=True,
            show_search="search",
            elem_id="aq-corpus-table",
            elem_classes=["aq-df"],
            label="Pages",
            column_widths=["24%", "20%", "16%", "8%", "13%", "19%"],
        )

    with gr.Tab("Feedback", id="feedback", elem_id="aq-tab-feedback", visible=shown) as feedback_tab:
        gr.HTML(
            '<div class="aq-intro"><b>For instructors.</b> Ratings of answers, newest first, with the '
            "question, the answer and its citations as they were shown.</div>",
            js_on_load=None,
        )
        feedback_summary = gr.HTML(
            views.feedback_summary() if shown else "", elem_id="aq-feedback-summary", js_on_load=None
        )
        with gr.Row():
            fb_refresh = gr.Button("Refresh", size="sm", scale=0, min_width=110, elem_id="aq-fb-refresh")
            fb_csv = download_button(gr, "Export CSV", views.export_feedback("csv") if shown else None, "aq-fb-csv")
            fb_json = download_button(gr, "Export JSON", views.export_feedback("json") if shown else None, "aq-fb-json")
        feedback_table = gr.Dataframe(
            value=views.feedback_rows() if shown else [],
            headers=["When", "Rating", "Question", "Answer", "Citations", "Comment"],
            interactive=False,
            wrap=True,
            show_search="search",
            elem_id="aq-feedback-table",
            elem_classes=["aq-df"],
            label="Feedback",
            column_widths=["12%", "9%", "19%", "32%", "16%", "12%"],
        )
    skip = ("gr", "views", "choices", "shown", "first")
    return SimpleNamespace(**{k: v for k, v in locals().items() if k not in skip})


def attribution_view(gr: Any, views: Views, state: list[ChatTurn], t: int | None) -> tuple[Any, ...]:
    """The attribution table of answer `t` and its two exports (CSV, JSON) ready to download."""
    files = [views.export_attribution(state, t, fmt) for fmt in ("csv", "json")]
    return (views.attribution_table(state, t), *(ready(gr, path) for path in files))


def after_answer(gr: Any, views: Views, ui: SimpleNamespace, teaches: Callable[[Any], bool]) -> SimpleNamespace:
    """What the Ask tab refreshes in these tabs once an answer is in (for instructors), and on clearing."""

    def fn(state: list[ChatTurn], request: gr.Request) -> tuple[Any, ...]:
        if not teaches(request):
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        picks = views.answer_choices(state)
        t = picks[0][1] if picks else None
        return gr.Dropdown(choices=picks, value=t), *attribution_view(gr, views, state, t)

    def clear_values() -> tuple[Any, ...]:
        return gr.Dropdown(choices=[], value=None), *attribution_view(gr, views, [], None)

    outputs = [ui.answer_pick, ui.attr_table, ui.attr_csv, ui.attr_json]
    return SimpleNamespace(fn=fn, outputs=outputs, clear_values=clear_values, clear_outputs=outputs)


def wire_instructor_tabs(
    gr: Any, views: Views, ui: SimpleNamespace, ask: SimpleNamespace, turns: Any, stats: Any, teaches: Callable
) -> None:
    """The instructors' events, each checking on the server that the caller teaches the course (a hidden tab is no
    permission); a re-index or a visit to Corpus also refreshes the header and the Ask filters."""
    from .app import render_header

    def require(request: Any) -> None:
        if not teaches(request):
            raise gr.Error("Only the course's instructors can see this.")

    hidden: dict[str, Any] = {"show_progress": "hidden", "api_visibility": "private"}

    def on_answer_pick(state: list[ChatTurn], t: int | None, request: gr.Request) -> tuple[Any, ...]:
        require(request)
        return attribution_view(gr, views, state, t)

    ui.answer_pick.change(on_answer_pick, [turns, ui.answer_pick], [ui.attr_table, ui.attr_csv, ui.attr_json], **hidden)

    def on_page_pick(page_id: str | None, request: gr.Request) -> tuple[Any, ...]:
        require(request)
        return views.parse_view(page_id), ready(gr, views.export_parse(page_id))

    ui.page_pick.change(on_page_pick, ui.page_pick, [ui.parse_view, ui.parse_json], **hidden)

    def corpus_view() -> tuple[Any, ...]:
        values = views.facets()
        choices = views.page_choices()
        return (
            views.corpus_summary(),
            views.corpus_rows(),
            render_header(views.stats()),
            gr.Row(visible=bool(values)),
            *(gr.Dropdown(choices=facet_choices(f, values), value="", visible=bool(values.get(f))) for f in FACETS),
            gr.Dropdown(choices=choices),
        )

    corpus_outputs = [ui.corpus_summary, ui.corpus_table, stats, ask.filter_row, *ask.filters, ui.page_pick]

    def refresh_corpus(request: gr.Request) -> tuple[Any, ...]:
        require(request)
        return corpus_view()

    ui.corpus_tab.select(refresh_corpus, None, corpus_outputs, **hidden)

    def on_reindex(request: gr.Request, progress: Any = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        require(request)

        def report(done: int, total: int) -> None:
            progress((done, total), desc="Embedding passages", unit="passages")

        status = views.reindex(report)
        return (status, *corpus_view())

    ui.reindex.click(
        on_reindex,
        None,
        [ui.reindex_status, *corpus_outputs],
        concurrency_limit=1,
        concurrency_id="ingest",
        api_visibility="private",
    )

    def refresh_feedback(request: gr.Request) -> tuple[Any, ...]:
        require(request)
        exports = (ready(gr, views.export_feedback(fmt)) for fmt in ("csv", "json"))
        return views.feedback_summary(), views.feedback_rows(), *exports

    feedback_outputs = [ui.feedback_summary, ui.feedback_table, ui.fb_csv, ui.fb_json]
    ui.feedback_tab.select(refresh_feedback, None, feedback_outputs, **hidden)
    ui.fb_refresh.click(refresh_feedback, None, feedback_outputs, **hidden)
