"""The attribution and parse views (ui/attribution.py): who said what, where, computed once; CSV/JSON exports."""

import csv
import json

from atlas_qa.types import Answer, Document, Quotation, Reference
from atlas_qa.ui import ATTRIBUTION_COLUMNS, ChatTurn, Views
from tests.conftest import BORINS_QUESTION

from .fakes import FakeAtlas, ask_views


def test_attribution_rows_trace_each_span_to_speaker_locator_and_reference(hash_atlas):
    views = Views(hash_atlas)
    turn = ask_views(views, BORINS_QUESTION)[0]
    rows = views.attribution_rows(turn)
    borins = [r for r in rows if r.work == "Borins, 2007, p. 16"]
    assert borins and borins[0].speaker == "Pal" and borins[0].locator == "pp. 213-214"
    assert borins[0].chain == "Borins (2007, p. 16), quoted in Pal (2014, pp. 213-214)"
    assert borins[0].reference.startswith("Borins, S. (2007). Conceptual framework.")
    assert "consolidates many common functions" in borins[0].span
    assert set(rows[0].columns()) == set(ATTRIBUTION_COLUMNS)
    assert views.attribution_rows(ChatTurn("q", answer=Answer("q", "no", True, ()))) == []


def test_an_answers_attribution_is_computed_once_and_carried_to_the_log_and_the_view(hash_atlas, monkeypatch):
    from atlas_qa import asking, explain
    from atlas_qa.insight import record
    from atlas_qa.ui import attribution

    calls = []

    def counted(*args, **kwargs):
        calls.append(1)
        return explain.attribution_rows(*args, **kwargs)

    for module in (asking, record, attribution):
        monkeypatch.setattr(module, "attribution_rows", counted)
    views = Views(hash_atlas)
    turns = ask_views(views, BORINS_QUESTION)
    views.feedback.log.flush()
    assert "Borins, 2007, p. 16" in views.attribution_table(turns, 0) and turns[0].rows
    entry = next(iter(views.feedback.log.entries(hash_atlas.settings.course)))
    assert any(w[0] == "Borins, 2007, p. 16" for w in entry.works)  # the log's works are the same rows'
    assert calls == [1]
    sentences = views.feedback.log.details(hash_atlas.settings.course, [entry.id])[entry.id]["sentences"]
    assert [s["n"] for s in sentences] == [s.n for s in turns[0].answer.sentences]  # stored as data, not "[n]" text


def test_attribution_exports_csv_and_json(hash_atlas, tmp_path):
    views = Views(hash_atlas, export_dir=tmp_path / "exports")
    turns = ask_views(views, BORINS_QUESTION)
    table = views.attribution_table(turns, 0)
    assert "Borins, S. (2007)" in table and "<th>Cited span</th>" in table
    rows = list(csv.reader(views.export_attribution(turns, 0, "csv").open(encoding="utf-8")))  # type: ignore[union-attr]
    assert rows[0] == ATTRIBUTION_COLUMNS and any("Borins, 2007, p. 16" in r for r in rows[1:])
    data = json.loads(views.export_attribution(turns, 0, "json").read_text(encoding="utf-8"))  # type: ignore[union-attr]
    assert data["question"] == BORINS_QUESTION and data["rows"] and data["citations"][0]["n"] == 1
    assert views.export_attribution(turns, 3, "csv") is None


def test_parse_view_shows_quotations_and_references_and_flags_what_did_not_resolve(tmp_path):
    text = "Intro.\n\nSmith writes: “Rules bind” (Smith, 2020, p. 4). Also (Nobody, 1999).\n\nReferences\n\nSmith, J. (2020). Rules. <Press>.\nUnused, A. (2001). Never cited."
    doc = Document(
        "p",
        "Parse <test>",
        text,
        "src/p.md",
        "markdown",
        quotations=(Quotation("Smith", "4", text.index("“"), text.index("”") + 1),),
        references=(
            Reference("ref1", "Smith, J. (2020). Rules. <Press>.", ("Smith",), "2020"),
            Reference("ref2", "Unused, A. (2001). Never cited.", ("Unused",), "2001"),
        ),
    )
    atlas = FakeAtlas(tmp=tmp_path)
    atlas.docs["p"] = doc
    html = Views(atlas).parse_view("p")
    assert "Smith, J. (2020). Rules. &lt;Press&gt;." in html and "<Press>" not in html and "Parse &lt;test&gt;" in html
    assert "unresolved" in html and "never cited" in html and "❝ Smith, p. 4" in html
    assert 'class="cite bad"' in html and 'class="cite"' in html
    assert "Choose a page" in Views(atlas).parse_view(None)
    exported = json.loads(Views(atlas, export_dir=tmp_path).export_parse("p").read_text())  # type: ignore[union-attr]
    assert exported["quotations"][0]["speaker"] == "Smith"
