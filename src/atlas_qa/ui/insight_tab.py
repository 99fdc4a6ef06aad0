"""The Insight tab (a course's instructors and admins): what the class asks, and where the material falls short.

The numbers are `atlas_qa.insight`'s (`build_insights`, shown through `insight_tables`); this module only lays them
out: headline tiles, a plot of questions per day, one captioned table per part, each downloadable as CSV and JSON.
Students never get it: the tab starts hidden and empty, and every event checks on the server that the caller teaches
the course asked for (a hidden tab is no permission).
"""

# No `from __future__ import annotations`: Gradio reads `gr.Request` in the callbacks' annotations.

import csv
import json
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ..errors import AtlasError
from .render import esc, tiles
from .reviews import gap_questions

# (name in `insight_tables`, caption, what it says): the order the tab shows them in.
TABLES = (
    ("pages", "Pages most asked", "Each page with the questions whose answers cited it; pages never asked come last."),
    ("topics", "Topics", "Questions per chapter or topic of the pages they were answered from."),
    (
        "gaps",
        "Gaps",
        "Refused and thumbs-down questions grouped into themes: what the course should add or explain better, "
        "with the pages closest to each theme.",
    ),
    ("confusions", "Confusions", "Pages with many follow-up questions or thumbs-down ratings, with the questions."),
    (
        "citations",
        "Attribution audit",
        "The works the answers cited most; a work missing from its page's reference list is flagged.",
    ),
    ("over_time", "Questions over time", "Questions asked per day (the plot above, as numbers)."),
)
FORMATS = ("csv", "json")


@dataclass(frozen=True)
class InsightSource:
    """Where the tab's numbers come from: `courses(request)`, the courses the caller teaches (first = default), and
    `build(course, since, until)`, the `Insights` of one of them (ISO dates or None)."""

    courses: Callable[[Any], list[str]]
    build: Callable[[str, str | None, str | None], Any]
    reviewable: str | None = None  # the course whose gaps can be reviewed here (the app's, when it stores reviews)
    material: Callable[[], str] | None = None  # its "material to add" (questions marked not covered), as HTML


def headline(ins: Any) -> str:
    """The numbers at the top: questions, refused (red when not 0), students, and the period they cover; first, why
    they may lack records when the question log cannot be written."""
    period = f"{ins.since or 'the first question'} to {ins.until or 'today'}"
    health = getattr(ins, "log_health", "")
    warning = f'<p class="aq-error" role="status">{esc(health)}</p>' if health else ""
    return (
        warning
        + tiles([("Questions", ins.questions), ("Students", ins.students)], bad=[("Refused", ins.refused)])
        + (f'<div class="aq-sub">Course <b>{esc(ins.course)}</b>, from {esc(period)}.</div>')
    )


def per_day_frame(ins: Any) -> Any:
    """Questions per day as the plot takes them: a DataFrame with the columns "Day" and "Questions"."""
    import pandas as pd  # type: ignore[import-untyped]  # (installed with gradio)

    return pd.DataFrame(
        {"Day": [day for day, _ in ins.per_day], "Questions": [int(n) for _, n in ins.per_day]},
        columns=["Day", "Questions"],
    )


def cell(value: Any) -> str:
    """A table value as text: a list as "a; b", a bool as yes/no."""
    if isinstance(value, (list, tuple)):
        return "; ".join(cell(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def table_html(name: str, caption: str, about: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """One table with its heading, caption and column headers (lists shown one item per line), or a sentence."""
    label = f"aq-insight-{esc(name)}-h"
    heading = f'<h3 class="aq-h" id="{label}">{esc(caption)} <span class="aq-count">{len(rows)}</span></h3>'
    intro = f'<p class="aq-sub">{esc(about)}</p>'
    if not rows:
        return f'{heading}{intro}<p class="aq-sub aq-none">Nothing yet for this period.</p>'

    def td(value: Any) -> str:
        if isinstance(value, (list, tuple)):
            return '<td><ul class="aq-cell-list">' + "".join(f"<li>{esc(cell(v))}</li>" for v in value) + "</ul></td>"
        if isinstance(value, bool):
            return "<td>yes</td>" if value else '<td><strong class="aq-flag">missing</strong></td>'
        return f"<td>{esc(cell(value))}</td>"

    head = "".join(f'<th scope="col" data-col="{esc(h)}">{esc(h.replace("_", " ").capitalize())}</th>' for h in headers)
    body = "".join("<tr>" + "".join(td(v) for v in row) + "</tr>" for row in rows)
    return (
        f'{heading}{intro}<div class="aq-table-wrap" tabindex="0" role="region" aria-labelledby="{label}">'
        f'<table class="aq-table" data-table="{esc(name)}"><caption class="aq-sr">{esc(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def export_table(folder: Path, name: str, fmt: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> Path:
    """One table as `insight-<name>.csv` (lists joined by "; ") or `.json` (a list of objects keyed by header)."""
    path = folder / f"insight-{name}.{fmt}"
    if fmt == "csv":
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(headers)
            writer.writerows([cell(v) for v in row] for row in rows)
    else:
        items = [{h: list(v) if isinstance(v, tuple) else v for h, v in zip(headers, row)} for row in rows]
        path.write_text(json.dumps(items, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


def render(ins: Any, folder: Path) -> dict[str, Any]:
    """Everything the tab shows for one `Insights`: "headline", "per_day", and per table its HTML and files."""
    from ..insight import insight_tables

    tables = insight_tables(ins)
    out: dict[str, Any] = {"headline": headline(ins), "per_day": per_day_frame(ins)}
    for name, caption, about in TABLES:
        headers, rows = tables.get(name, ([], []))
        out[name] = table_html(name, caption, about, headers, rows)
        for fmt in FORMATS:
            out[f"{name}.{fmt}"] = export_table(folder, name, fmt, headers, rows)
    return out


def build_insight_tab(gr: Any, shown: bool = True, reviewing: bool = False) -> SimpleNamespace:
    """The Insight tab's components inside the caller's `gr.Tabs`, empty until an instructor opens it; `reviewing`:
    with a picker that opens a refused or rated-down question in the Reviews tab, and the material to add."""
    with gr.Tab("Insight", id="insight", elem_id="aq-tab-insight", visible=shown) as insight_tab:
        gr.HTML(
            '<h2 class="aq-h">Instructor insight</h2><div class="aq-intro"><b>For instructors.</b> What students '
            "ask, which pages they ask about, and where the course material falls short. Students appear as "
            "pseudonymous ids, never by name.</div>",
            js_on_load=None,
        )
        with gr.Row(equal_height=True):
            course = gr.Dropdown([], label="Course", scale=2, elem_id="aq-insight-course", allow_custom_value=True)
            since = gr.Textbox(label="Since (YYYY-MM-DD)", placeholder="first", scale=1, elem_id="aq-insight-since")
            until = gr.Textbox(label="Until (YYYY-MM-DD)", placeholder="today", scale=1, elem_id="aq-insight-until")
            show = gr.Button("Show", variant="primary", scale=0, min_width=110, elem_id="aq-insight-show")
        message = gr.HTML("", elem_id="aq-insight-message", js_on_load=None)
        numbers = gr.HTML("", elem_id="aq-insight-numbers", js_on_load=None)
        plot = gr.BarPlot(
            None,
            x="Day",
            y="Questions",
            title="Questions per day",
            x_title="Day",
            y_title="Questions",
            y_lim=[0, None],  # bars from 0 (one day alone would otherwise be a bar of no height)
            y_axis_format="d",
            label="Questions over time",
            elem_id="aq-insight-plot",
            height=260,
            visible=False,
        )
        views: dict[str, Any] = {}
        downloads: dict[str, Any] = {}
        for name, caption, _ in TABLES:
            views[name] = gr.HTML("", elem_id=f"aq-insight-{name}", js_on_load=None)
            with gr.Row():
                for fmt in FORMATS:
                    downloads[f"{name}.{fmt}"] = gr.DownloadButton(
                        f"{caption}: {fmt.upper()}",
                        None,
                        size="sm",
                        scale=0,
                        min_width=200,
                        visible=False,
                        elem_id=f"aq-insight-{name}-{fmt}",
                    )
            if name == "gaps":  # a gap's question opens in the Reviews tab
                with gr.Row(equal_height=True, visible=False, elem_id="aq-insight-review") as review_row:
                    review_pick = gr.Dropdown(
                        [], label="Refused or rated-down question", scale=4, elem_id="aq-insight-review-pick"
                    )
                    review_go = gr.Button(
                        "Review this question", scale=0, min_width=220, elem_id="aq-insight-review-go"
                    )
                material = gr.HTML("", elem_id="aq-insight-material", js_on_load=None, visible=reviewing)
    return SimpleNamespace(
        tab=insight_tab, course=course, since=since, until=until, show=show, message=message, numbers=numbers,
        plot=plot, views=views, downloads=downloads, review_row=review_row, review_pick=review_pick,
        review_go=review_go, material=material,
    )  # fmt: skip


def wire_insight_tab(gr: Any, ui: SimpleNamespace, source: InsightSource, export_dir: Callable[[], Path]) -> None:
    """The tab's events: opening it fills the course choices and the numbers; Show applies the filters. Each checks
    that the caller teaches the course asked for."""
    hidden: dict[str, Any] = {"show_progress": "hidden", "api_visibility": "private"}
    outputs = [ui.message, ui.numbers, ui.plot, *ui.views.values(), *ui.downloads.values()]
    outputs += [ui.review_row, ui.review_pick, ui.material]

    def refresh(course: str | None, since: str | None, until: str | None, request: Any) -> tuple[Any, ...]:
        allowed = source.courses(request)
        if not allowed:
            raise gr.Error("Only the course's instructors can see this.")
        course = course or allowed[0]
        if course not in allowed:
            raise gr.Error(f"Only the instructors of {course!r} can see its insight.")
        try:
            ins = source.build(course, (since or "").strip() or None, (until or "").strip() or None)
        except AtlasError as exc:  # a date that is not one: said beside the filters, which stay as typed
            return (f'<p class="aq-error" role="alert">{esc(exc)}</p>', *(gr.skip() for _ in outputs[1:]))
        shown = render(ins, Path(tempfile.mkdtemp(dir=export_dir())))
        reviewable = source.reviewable is not None and course == source.reviewable
        asked = gap_questions(ins) if reviewable else []
        return (
            "",
            shown["headline"],
            gr.BarPlot(value=shown["per_day"], visible=not shown["per_day"].empty),  # no empty chart to read out
            *(shown[name] for name in ui.views),
            *(gr.DownloadButton(value=str(shown[key]), visible=True) for key in ui.downloads),
            gr.Row(visible=bool(asked)),
            gr.Dropdown(choices=asked, value=asked[0] if asked else None),
            source.material() if reviewable and source.material else "",
        )

    def on_select(course: str | None, since: str, until: str, request: gr.Request) -> tuple[Any, ...]:
        allowed = source.courses(request)
        pick = course if course in allowed else (allowed[0] if allowed else None)
        return (gr.Dropdown(choices=allowed, value=pick), *refresh(pick, since, until, request))

    def on_show(course: str | None, since: str, until: str, request: gr.Request) -> tuple[Any, ...]:
        return refresh(course, since, until, request)

    inputs = [ui.course, ui.since, ui.until]
    ui.tab.select(on_select, inputs, [ui.course, *outputs], **hidden)
    ui.show.click(on_show, inputs, outputs, **hidden)
    ui.course.input(on_show, inputs, outputs, **hidden)
