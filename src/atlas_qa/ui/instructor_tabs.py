"""The instructors' tabs (Attribution, Corpus, Feedback): components and events."""

# No `from __future__ import annotations`: see ask_tab.py (Gradio reads the callbacks' annotations).

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from .ask_tab import facet_choices
from .chat import Turn
from .sources import FACETS
from .views import Views


def build_instructor_tabs(gr: Any, views: Views) -> SimpleNamespace:
    """The Attribution, Corpus and Feedback tabs, inside the caller's `gr.Tabs`; returns their components by name."""
    with gr.Tab("Attribution", id="attribution", elem_id="aq-tab-attribution") as attribution_tab:
        gr.HTML(
            '<div class="aq-intro"><b>For instructors.</b> Check what each answer rests on: every cited '
            "span, its speaker and locator, the works it cites with their full references; and any page as "
            "the system parsed it, with unresolved citations and unused references flagged.</div>",
            js_on_load=None,
        )
        with gr.Row():
            answer_pick = gr.Dropdown([], label="Answer", scale=4, elem_id="aq-answer-pick")
            attr_csv = gr.Button("Export CSV", size="sm", scale=0, min_width=120, elem_id="aq-attr-csv")
            attr_json = gr.Button("Export JSON", size="sm", scale=0, min_width=120, elem_id="aq-attr-json")
        attr_file = gr.File(label="Download", visible=False, interactive=False, elem_id="aq-attr-file")
        attr_table = gr.HTML(views.attribution_table([], None), elem_id="aq-attr-table", js_on_load=None)
        gr.HTML('<h3 class="aq-h">Page parse</h3>', js_on_load=None)
        with gr.Row():
            choices = views.page_choices()
            page_pick = gr.Dropdown(
                choices, value=choices[0][1] if choices else None, label="Page", scale=4, elem_id="aq-page-pick"
            )
            parse_json = gr.Button("Export JSON", size="sm", scale=0, min_width=120, elem_id="aq-parse-json")
        parse_file = gr.File(label="Download", visible=False, interactive=False, elem_id="aq-parse-file")
        parse_view = gr.HTML(views.parse_view(choices[0][1] if choices else None), elem_id="aq-parse", js_on_load=None)

    with gr.Tab("Corpus", id="corpus", elem_id="aq-tab-corpus") as corpus_tab:
        gr.HTML(
            '<div class="aq-intro"><b>For instructors.</b> The pages in the index, when each was indexed, '
            "and the files that failed to load with the reason. Re-indexing reads the corpus folder again "
            "and embeds only what changed.</div>",
            js_on_load=None,
        )
        corpus_summary = gr.HTML(views.corpus_summary(), elem_id="aq-corpus-summary", js_on_load=None)
        with gr.Row(equal_height=True):
            reindex = gr.Button("Re-index the corpus", variant="primary", scale=0, min_width=240, elem_id="aq-reindex")
            reindex_status = gr.HTML("", elem_id="aq-reindex-status", js_on_load=None)
        corpus_table = gr.Dataframe(
            value=views.corpus_rows(),
            headers=["Title", "Page id", "Passages", "Indexed", "Source"],
            datatype=["str", "str", "number", "str", "str"],
            interactive=False,
            wrap=True,
            show_search="search",
            elem_id="aq-corpus-table",
            elem_classes=["aq-df"],
            label="Pages",
            column_widths=["30%", "26%", "10%", "14%", "20%"],
        )

    with gr.Tab("Feedback", id="feedback", elem_id="aq-tab-feedback") as feedback_tab:
        gr.HTML(
            '<div class="aq-intro"><b>For instructors.</b> Ratings of answers, newest first, with the '
            "question, the answer and its citations as they were shown.</div>",
            js_on_load=None,
        )
        feedback_summary = gr.HTML(views.feedback_summary(), elem_id="aq-feedback-summary", js_on_load=None)
        with gr.Row():
            fb_refresh = gr.Button("Refresh", size="sm", scale=0, min_width=110, elem_id="aq-fb-refresh")
            fb_csv = gr.Button("Export CSV", size="sm", scale=0, min_width=120, elem_id="aq-fb-csv")
            fb_json = gr.Button("Export JSON", size="sm", scale=0, min_width=120, elem_id="aq-fb-json")
        fb_file = gr.File(label="Download", visible=False, interactive=False, elem_id="aq-fb-file")
        feedback_table = gr.Dataframe(
            value=views.feedback_rows(),
            headers=["When", "Rating", "Question", "Answer", "Citations", "Comment"],
            interactive=False,
            wrap=True,
            show_search="search",
            elem_id="aq-feedback-table",
            elem_classes=["aq-df"],
            label="Feedback",
            column_widths=["12%", "9%", "19%", "32%", "16%", "12%"],
        )
    return SimpleNamespace(**{k: v for k, v in locals().items() if k not in ("gr", "views", "choices")})


def after_answer(gr: Any, views: Views, ui: SimpleNamespace) -> SimpleNamespace:
    """What the Ask tab refreshes in these tabs once an answer is in, and on clearing the conversation."""

    def fn(state: list[Turn]) -> tuple[Any, ...]:
        picks = views.answer_choices(state)
        t = picks[0][1] if picks else None
        return gr.Dropdown(choices=picks, value=t), views.attribution_table(state, t)

    def clear_values() -> tuple[Any, ...]:
        return gr.Dropdown(choices=[], value=None), views.attribution_table([], None)

    outputs = [ui.answer_pick, ui.attr_table]
    return SimpleNamespace(fn=fn, outputs=outputs, clear_values=clear_values, clear_outputs=outputs)


def wire_instructor_tabs(
    gr: Any, views: Views, ui: SimpleNamespace, ask: SimpleNamespace, turns: Any, stats: Any
) -> None:
    """The instructors' events; a re-index or a visit to Corpus also refreshes the header and the Ask filters."""
    from .app import render_header

    hidden: dict[str, Any] = {"show_progress": "hidden", "api_visibility": "private"}
    ui.answer_pick.change(views.attribution_table, [turns, ui.answer_pick], ui.attr_table, **hidden)

    def file_update(path: Path | None) -> Any:
        return gr.File(value=str(path) if path else None, visible=path is not None)

    def export_attribution_csv(state: list[Turn], t: int | None) -> Any:
        return file_update(views.export_attribution(state, t, "csv"))

    def export_attribution_json(state: list[Turn], t: int | None) -> Any:
        return file_update(views.export_attribution(state, t, "json"))

    ui.attr_csv.click(export_attribution_csv, [turns, ui.answer_pick], ui.attr_file, api_visibility="private")
    ui.attr_json.click(export_attribution_json, [turns, ui.answer_pick], ui.attr_file, api_visibility="private")

    def on_page_pick(page_id: str | None) -> tuple[Any, ...]:
        return views.parse_view(page_id), gr.File(visible=False)

    def export_parse(page_id: str | None) -> Any:
        return file_update(views.export_parse(page_id))

    ui.page_pick.change(on_page_pick, ui.page_pick, [ui.parse_view, ui.parse_file], **hidden)
    ui.parse_json.click(export_parse, ui.page_pick, ui.parse_file, api_visibility="private")

    def refresh_corpus() -> tuple[Any, ...]:
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
    ui.corpus_tab.select(refresh_corpus, None, corpus_outputs, **hidden)

    def on_reindex(progress: Any = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008 (Gradio's idiom)
        def report(done: int, total: int) -> None:
            progress((done, total), desc="Embedding passages", unit="passages")

        status = views.reindex(report)
        return (status, *refresh_corpus())

    ui.reindex.click(
        on_reindex,
        None,
        [ui.reindex_status, *corpus_outputs],
        concurrency_limit=1,
        concurrency_id="ingest",
        api_visibility="private",
    )

    def refresh_feedback() -> tuple[Any, ...]:
        return views.feedback_summary(), views.feedback_rows()

    feedback_outputs = [ui.feedback_summary, ui.feedback_table]
    ui.feedback_tab.select(refresh_feedback, None, feedback_outputs, **hidden)
    ui.fb_refresh.click(refresh_feedback, None, feedback_outputs, **hidden)

    def export_feedback_csv() -> Any:
        return file_update(views.export_feedback("csv"))

    def export_feedback_json() -> Any:
        return file_update(views.export_feedback("json"))

    ui.fb_csv.click(export_feedback_csv, None, ui.fb_file, api_visibility="private")
    ui.fb_json.click(export_feedback_json, None, ui.fb_file, api_visibility="private")
