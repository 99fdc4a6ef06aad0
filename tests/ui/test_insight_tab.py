"""The Insight tab's layout without a server: date filters, tables (escaped, captioned), CSV/JSON exports whose numbers
are insights_json's, and the tab's events refusing a student (a real log over the hash-embedder Atlas)."""

import csv
import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from atlas_qa.core import Atlas
from atlas_qa.insight import QuestionLog, build_insights, insights_json
from atlas_qa.types import Answer
from atlas_qa.ui import build_app
from atlas_qa.ui.insight_tab import export_table, headline, per_day_frame, render, table_html
from atlas_qa.users import User

EVIL = "<script>alert(1)</script>"


def test_a_table_is_captioned_escaped_and_lists_each_question_on_its_own_line():
    html = table_html("gaps", "Gaps", "about", ["theme", "asked", "students"], [["tax", ("q1", EVIL), 2]])
    assert (
        "<caption" in html
        and '<th scope="col" data-col="theme">Theme</th>' in html
        and 'aria-labelledby="aq-insight-gaps-h"' in html
    )
    assert EVIL not in html and "&lt;script&gt;" in html
    assert "<li>q1</li>" in html and "<td>2</td>" in html
    flagged = table_html("citations", "Audit", "", ["work", "in_references"], [["Pal, 2014", False], ["X", True]])
    assert flagged.count("missing") == 1 and "<td>yes</td>" in flagged
    assert "Nothing yet" in table_html("gaps", "Gaps", "about", ["Theme"], []) and "<table" not in table_html(
        "gaps", "Gaps", "about", ["Theme"], []
    )


def test_exports_keep_every_row_and_number(tmp_path: Path):
    headers = ["Theme", "Questions", "Students"]
    rows = [["tax policy", ("What is a carbon tax?", "How do carbon taxes work?"), 2], ["voting", ("q",), 1]]
    with export_table(tmp_path, "gaps", "csv", headers, rows).open(encoding="utf-8") as f:
        assert list(csv.reader(f)) == [
            headers,
            ["tax policy", "What is a carbon tax?; How do carbon taxes work?", "2"],
            ["voting", "q", "1"],
        ]
    items = json.loads(export_table(tmp_path, "gaps", "json", headers, rows).read_text(encoding="utf-8"))
    assert items == [
        {"Theme": "tax policy", "Questions": ["What is a carbon tax?", "How do carbon taxes work?"], "Students": 2},
        {"Theme": "voting", "Questions": ["q"], "Students": 1},
    ]


def test_headline_and_plot_data_show_the_insights_numbers():
    ins = SimpleNamespace(
        course="polisci",
        since="2026-09-01",
        until=None,
        questions=12,
        refused=3,
        students=4,
        per_day=(("2026-09-01", 5), ("2026-09-02", 0), ("2026-09-03", 7)),
    )
    html = headline(ins)
    assert ">12<" in html and ">4<" in html and "aq-tile-bad" in html and "2026-09-01 to today" in html
    frame = per_day_frame(ins)
    assert list(frame.columns) == ["Day", "Questions"]
    assert frame.values.tolist() == [["2026-09-01", 5], ["2026-09-02", 0], ["2026-09-03", 7]]
    assert 'role="status"' not in html
    broken = headline(
        SimpleNamespace(**vars(ins), log_health="The question log <x> cannot be written (disk full): 2 …")
    )
    assert '<p class="aq-error" role="status">The question log &lt;x&gt; cannot be written' in broken


@pytest.fixture
def logged(corpus: Path, hash_settings) -> Any:
    """The hash-embedder Atlas with a log of two students' questions: some answered, one refused twice, one rated."""
    atlas = Atlas(hash_settings)
    atlas.ingest([corpus])
    log = QuestionLog.open(atlas.settings, atlas)
    for user, q in [("ana", "What is politics?"), ("ben", "What is politics?"), ("ana", "What are de facto rules?")]:
        log.record("default", user, atlas.ask(q), q, document=atlas.index.document)
    for user in ("ana", "ben"):
        log.record("default", user, Answer("Carbon tax?", "Not covered.", True, ()), "How does a carbon tax work?")
    rid = log.record("default", "ben", atlas.ask("Who is Aristotle?"), "Who is Aristotle?")
    log.rate("default", rid, False, "unclear")
    log.flush()
    yield atlas, log
    log.close()


def test_every_export_holds_the_numbers_of_insights_json(logged, tmp_path: Path):
    atlas, log = logged
    ins = build_insights(atlas, log, "default")
    data = insights_json(ins)
    shown = render(ins, tmp_path)
    pages = json.loads(shown["pages.json"].read_text(encoding="utf-8"))
    assert [(p["page_id"], p["questions"]) for p in pages] == [(p["page_id"], p["questions"]) for p in data["pages"]]
    with shown["gaps.csv"].open(encoding="utf-8") as f:
        gaps = list(csv.DictReader(f))
    assert [(g["theme"], int(g["students"])) for g in gaps] == [(g["label"], g["students"]) for g in data["gaps"]]
    assert data["gaps"] and f">{data['questions']}<" in shown["headline"]
    assert shown["per_day"]["Questions"].sum() == data["questions"] == 6
    first = next(p for p in data["pages"] if p["questions"])
    assert shown["pages"].index(first["title"]) < shown["pages"].index("</tbody>")


def _event(app: Any, elem_id: str, event: str) -> Any:
    ids = {block._id: getattr(block, "elem_id", None) for block in app.blocks.values()}
    for fn in app.fns.values():
        if any(ids.get(getattr(t, "_id", t)) == elem_id and e == event for t, e in fn.targets):
            return fn.fn
    raise AssertionError(f"no {event} on #{elem_id}")


def test_the_tabs_events_answer_the_courses_instructors_only(logged):
    import gradio as gr

    atlas, log = logged
    users = {
        "student": User("ana", "student", ("default",)),
        "other": User("olga", "instructor", ("other",)),
        "prof": User("prof", "instructor", ("default",)),
        "admin": User("root", "admin"),
    }
    app = build_app(
        atlas,
        user_of=lambda request: users[request],
        insights=lambda c, since, until: build_insights(atlas, log, c, since, until),
    )
    show, select = _event(app, "aq-insight-show", "click"), _event(app, "aq-tab-insight", "select")
    for who in ("student", "other"):
        with pytest.raises(gr.Error, match="instructors"):
            show("default", "", "", who)
        with pytest.raises(gr.Error, match="instructors"):
            select(None, "", "", who)
    with pytest.raises(gr.Error, match="instructors of 'other'"):
        show("other", "", "", "prof")  # a course not taught, though the caller teaches another
    for who in ("prof", "admin"):
        message, numbers, plot, *_ = show("default", "", "", who)
        assert message == "" and ">6<" in numbers and plot.visible is True
    _, numbers, plot, *_ = show("default", "2020-01-01", "2020-01-31", "prof")
    assert ">0<" in numbers and plot.visible is True and len(plot.value["data"]) == 31  # every day, at 0
    choices, *rest = select(None, "", "", "prof")
    assert choices.value == "default" and ">6<" in rest[1]
    message, *others = show("default", "last week", "", "prof")
    assert "is not a date" in message and 'role="alert"' in message
    assert all(isinstance(o, type(gr.skip())) for o in others)  # what was shown stays


def test_an_empty_log_shows_no_chart(logged):
    atlas, log = logged
    app = build_app(atlas, insights=lambda c, s, u: replace(build_insights(atlas, log, c, s, u), per_day=()))
    _, _, plot, *_ = _event(app, "aq-insight-show", "click")("default", "", "", None)
    assert plot.visible is False  # an empty chart is an SVG with nothing to read out (axe: svg-img-alt)
