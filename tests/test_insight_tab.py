"""The Insight tab's layout without a server: date filters, tables (escaped, captioned), CSV/JSON exports whose numbers
are insights_json's, and the tab's events refusing a student (hand-built `Insights`, the hash-embedder Atlas)."""

import csv
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from atlas_qa.ui.insight_tab import DateError, export_table, headline, parse_day, per_day_frame, table_html

EVIL = "<script>alert(1)</script>"


def test_date_filters_take_iso_dates_and_say_what_is_wrong_otherwise():
    assert parse_day(" 2026-09-01 ", "since") == "2026-09-01"
    assert parse_day("", "since") is None and parse_day(None, "until") is None
    with pytest.raises(DateError, match=r"“1/9/26” is not a date: write the until date as YYYY-MM-DD"):
        parse_day("1/9/26", "until")
    with pytest.raises(DateError):
        parse_day("2026-02-30", "since")


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
