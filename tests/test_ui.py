"""The app's callbacks, without a server: a fake Atlas for the edges, the hash-embedder Atlas on the fixtures."""

import csv
import json
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from atlas_qa.answer import clean
from atlas_qa.config import Settings
from atlas_qa.core import MAX_QUESTION_CHARS, Atlas, check_filters, check_question, standalone
from atlas_qa.errors import ConfigError, IndexNotFoundError
from atlas_qa.insight import QuestionLog
from atlas_qa.ratings import FeedbackStore
from atlas_qa.types import Answer, AnswerSentence, Citation, Cite, Document, Quotation, Reference
from atlas_qa.ui import (
    ATTRIBUTION_COLUMNS,
    ChatTurn,
    Views,
    build_app,
    chunk_offset,
    highlight,
    launch_options,
    locate,
    render_messages,
    render_reply,
)
from tests.embedder import HashEmbedder

from .conftest import BORINS_QUESTION

EVIL = "<script>alert(1)</script><img src=x onerror=alert(2)><a href='javascript:alert(3)'>x</a>"
PAGE = "Intro line.\n\n" + "Pal writes: Rules matter a lot. " + EVIL + " Then more text follows here."
CHUNK = "Pal writes: Rules matter a lot. " + EVIL + " Then more text"
SPAN = (PAGE.index("Rules matter"), PAGE.index("Rules matter") + len("Rules matter a lot."))


def _citation(n: int = 1, text: str = CHUNK, start: int = SPAN[0], end: int = SPAN[1]) -> Citation:
    return Citation(
        n,
        "p",
        "Page <b>T</b>",
        "src",
        "Rules",
        "Pal",
        "213-214",
        (Cite("Pal, 2014", EVIL),),
        text,
        0.9,
        start,
        end,
        speaker_reference="Pal (2014). <i>Book</i>.",
        chain="Pal (2014, pp. 213-214)",
    )


def _answer(text: str = "Rules matter a lot. [1]", *citations: Citation) -> Answer:
    """An answer whose sentences are the "sentence [n]" pieces of `text`."""
    pieces = re.findall(r"(.+?) \[(\d+)\](?=\s|$)", text)
    sentences = tuple(AnswerSentence(t.strip(), int(n)) for t, n in pieces)
    return Answer.from_sentences("What did Pal say about rules?", sentences, citations or (_citation(),))


class FakeAtlas:
    """What the edges use of `Atlas` (ask, pages, a document, facets, the last ingest, a question's vector): records
    what the app asks; answers with a fixed Answer or raises."""

    def __init__(self, answer: Answer | None = None, error: Exception | None = None, tmp: Path | None = None):
        self.answer, self.error, self.asked = answer, error, []
        self.settings = Settings(index_dir=(tmp or Path("/nonexistent")) / "index")
        doc = Document("p", "Page <b>T</b>", PAGE, "src/p.txt", "concept", metadata={"course": "C<1>"})
        self.docs = {"p": doc}

    def ask(self, question, k=None, filters=None, history=None):
        question, filters = check_question(question), check_filters(filters)  # checked as Atlas.ask checks them
        searched = standalone(question, history)  # as Atlas.ask does: a follow-up is searched standalone
        self.asked.append((searched, filters))
        if self.error:
            raise self.error
        return replace(self.answer, question=question, searched=searched)

    def question_vector(self, text):
        return np.ones(4, dtype=np.float32) / 2

    def document(self, page_id: str) -> Document:
        from atlas_qa.errors import AtlasError

        if page_id not in self.docs:
            raise AtlasError(f"No page {page_id!r}")
        return self.docs[page_id]

    def pages(self):
        return [
            {"page_id": d.page_id, "title": d.title, "source": d.source, "chunks": 1, "indexed_at": 0.0}
            for d in self.docs.values()
        ]

    def last_ingest(self):
        return None

    def facets(self):
        return {"course": ["C<1>"]}


@pytest.fixture
def hash_atlas(corpus: Path, hash_settings: Settings) -> Atlas:
    atlas = Atlas(hash_settings.with_(corpus=corpus))
    atlas.ingest()
    return atlas


def _ask(views: Views, question: str, turns=()) -> list[ChatTurn]:
    *_, (_, _, turns) = views.stream(question, list(turns), delay=0)
    return turns


# -- spans ---------------------------------------------------------------------------------------------------------


def test_highlight_escapes_everything_then_marks_the_span():
    assert highlight("a <b>x</b> c", [(2, 10)]) == "a <mark>&lt;b&gt;x&lt;/b&gt;</mark> c"
    assert highlight("abcdef", [(1, 3), (2, 4), (5, 9)]) == "a<mark>bcd</mark>e<mark>f</mark>"


def test_locate_finds_an_answer_sentence_despite_markup_and_spacing():
    text = "Start. Politics is\n  **who gets what**,[^2] when, how. End."
    a, b = locate(text, clean("Politics is **who gets what**,[^2] when, how."))  # type: ignore[misc]
    assert text[a:b] == "Politics is\n  **who gets what**,[^2] when, how."
    assert locate(text, "Not in the text.") is None


def test_chunk_offset_picks_the_occurrence_that_holds_the_span():
    page = "same words. other. same words."
    assert chunk_offset(page, "same words.", 20, 25) == 19
    assert chunk_offset(page, "same words.", 0, 4) == 0


def test_card_marks_the_exact_span_inside_the_passage_and_escapes_the_rest():
    views = Views(FakeAtlas())
    html = views.card(0, _answer(), _citation())
    assert "<mark>Rules matter a lot.</mark>" in html
    assert "<script>" not in html and "<img" not in html and "<a href" not in html and "<b>T" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "Page &lt;b&gt;T&lt;/b&gt;" in html
    assert 'id="src-0-1"' in html and 'data-open="0:1"' in html and "Pal (2014, pp. 213-214)" in html


def test_the_span_is_found_in_the_chunk_when_the_page_is_gone():
    views = Views(FakeAtlas())
    moved = Citation(**{**_citation().__dict__, "page_id": "gone"})
    assert "<mark>Rules matter a lot.</mark>" in views.card(0, _answer("Rules matter a lot. [1]", moved), moved)


# -- chat ----------------------------------------------------------------------------------------------------------


def test_answer_markers_link_to_their_sources_and_text_is_escaped():
    answer = _answer(f"{EVIL} Rules matter a lot. [1]")
    html = render_reply(2, ChatTurn("q", "q", answer))
    assert '<a class="aq-cite" href="#src-2-1"' in html and ">[1]</a>" in html
    assert "<script>" not in html and "<img" not in html and "&lt;img src=x onerror=alert(2)&gt;" in html


def test_refusals_look_different_and_name_the_closest_pages():
    refused = Answer("q", "The course material doesn't cover this.", True, (), ("m00002",))
    html = render_reply(0, ChatTurn("q", "q", refused, filters={"course": "X"}), lambda p: f"Title of {p}")
    assert 'class="aq-refusal"' in html and "Not covered by the course material" in html
    assert "Title of m00002" in html and "within course = X" in html and "aq-cite" not in html
    views = Views(FakeAtlas())
    panel = views.sources([ChatTurn("q", "q", refused)])
    assert "aq-refusal-panel" in panel and "m00002" in panel


def test_errors_are_shown_as_text_in_the_conversation():
    views = Views(FakeAtlas(error=IndexNotFoundError("The index is empty: run `atlas-qa ingest`.")))
    turns = _ask(views, "What?")
    assert turns[0].error.startswith("The index is empty")
    assert 'class="aq-error"' in render_messages(turns)[1]["content"]


def test_a_question_that_cannot_be_asked_is_said_above_the_sources_and_adds_no_turn():
    views = Views(FakeAtlas(_answer()))
    for question, said in (("x" * (MAX_QUESTION_CHARS + 1), "limit is 1,000"), ("", "Please type"), ("?!", "no words")):
        [(messages, html_, turns)] = list(views.stream(question, [], delay=0))
        assert messages == [] and turns == [] and said in html_ and 'role="alert"' in html_
    assert views.atlas.asked == []


def test_unexpected_failures_end_the_turn_with_a_message(caplog):
    turns = _ask(Views(FakeAtlas(error=RuntimeError("boom"))), "What?")
    assert "Something went wrong" in turns[0].error and "boom" in caplog.text


def test_answers_stream_in_after_a_placeholder():
    views = Views(FakeAtlas(_answer(" ".join(["Rules matter a lot."] * 12) + " [1]")))
    steps = list(views.stream("What did Pal say about rules?", [], delay=0))
    assert "aq-pending" in steps[0][0][-1]["content"] and steps[0][2] == []
    partial = [s for s in steps if "aq-caret" in s[0][-1]["content"]]
    assert len(partial) >= 5 and partial[0][1] is not None and all(s[1] is None for s in partial[1:])
    messages, sources, turns = steps[-1]
    assert len(turns) == 1 and "aq-caret" not in messages[-1]["content"] and 'id="src-0-1"' in sources


def test_follow_ups_are_rewritten_with_the_conversation_before_retrieval():
    atlas = FakeAtlas(_answer())
    views = Views(atlas)
    turns = _ask(views, "Who argued that rules matter?")
    turns = _ask(views, "What did he say about chess?", turns)
    assert atlas.asked[-1][0] == "What did Pal say about chess?"
    assert turns[-1].question == "What did he say about chess?" and turns[-1].asked == "What did Pal say about chess?"
    assert "Searched for “What did Pal say about chess?”" in render_messages(turns)[-1]["content"]


def test_filters_are_passed_to_ask_only_when_chosen():
    atlas = FakeAtlas(_answer())
    views = Views(atlas)
    _ask(views, "What?")
    views.ask("What?", [], {"course": "Atlas107", "topic": "", "chapter": ""})
    assert atlas.asked == [("What?", None), ("What?", {"course": "Atlas107"})]


# -- with the hash-embedder Atlas on the fixtures --------------------------------------------------------------------


def test_a_real_answer_shows_passages_speakers_and_references(hash_atlas):
    views = Views(hash_atlas)
    turns = _ask(views, BORINS_QUESTION)
    answer = turns[0].answer
    assert answer is not None and not answer.refused
    sources = views.sources(turns)
    assert 'id="src-0-1"' in sources and "<mark>" in sources
    assert "Borins, S. (2007). Conceptual framework." in sources and "quoted in Pal" in sources
    # Markers in the chat point at cards that exist.
    for n in {int(x) for x in __import__("re").findall(r"#src-0-(\d+)", render_messages(turns)[1]["content"])}:
        assert f'id="src-0-{n}"' in sources


def test_clicking_an_older_marker_renders_that_turns_sources_with_the_card_in_focus(hash_atlas):
    views = Views(hash_atlas)
    turns = _ask(views, BORINS_QUESTION)
    turns = _ask(views, "What did he say about rule-bound bureaucracies?", turns)
    assert turns[1].asked == "What did Borins say about rule-bound bureaucracies?"  # the answer quotes Borins
    html = views.sources(turns, 0, focus=1)
    assert 'data-turn="0"' in html and 'class="aq-card aq-focus" id="src-0-1"' in html


def test_open_page_shows_the_whole_page_with_the_span_marked(hash_atlas):
    views = Views(hash_atlas)
    turns = _ask(views, BORINS_QUESTION)
    html = views.page(turns, 0, 1)
    assert "aq-pageview" in html and "See also: New Public Management." in html
    marked = __import__("re").findall(r'<mark class="passage hit"[^>]*>(.*?)</mark>', html, __import__("re").S)
    assert any("consolidates many common functions" in m for m in marked)
    assert "No page open" in views.page(turns, 5, 1)


def test_attribution_rows_trace_each_span_to_speaker_locator_and_reference(hash_atlas):
    views = Views(hash_atlas)
    turn = _ask(views, BORINS_QUESTION)[0]
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
    turns = _ask(views, BORINS_QUESTION)
    views.feedback.log.flush()
    assert "Borins, 2007, p. 16" in views.attribution_table(turns, 0) and turns[0].rows
    entry = next(iter(views.feedback.log.entries(hash_atlas.settings.course)))
    assert any(w[0] == "Borins, 2007, p. 16" for w in entry.works)  # the log's works are the same rows'
    assert calls == [1]
    sentences = views.feedback.log.details(hash_atlas.settings.course, [entry.id])[entry.id]["sentences"]
    assert [s["n"] for s in sentences] == [s.n for s in turns[0].answer.sentences]  # stored as data, not "[n]" text


def test_attribution_exports_csv_and_json(hash_atlas, tmp_path):
    views = Views(hash_atlas, export_dir=tmp_path / "exports")
    turns = _ask(views, BORINS_QUESTION)
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


def test_corpus_view_lists_pages_and_the_files_that_failed_to_load(hash_atlas, corpus):
    (corpus / "broken.md").write_text("---\ntitle: [unclosed\n---\nBody", encoding="utf-8")
    seen = []
    views = Views(hash_atlas)
    status = views.reindex(lambda done, total: seen.append((done, total)))
    assert "Re-indexed:" in status and "1 failed to load" in status
    summary = views.corpus_summary()
    assert "broken.md" in summary and "malformed YAML front matter" in summary and "aq-tile-bad" in summary
    rows = views.corpus_rows()
    assert any(r[2] == "atlas107/digital-technology-and-service-delivery.txt" and r[3] > 0 for r in rows)
    assert ["What Is Politics and What Is Political Science?"] == [r[1] for r in rows if r[2] == "m00002"]
    assert all(not Path(r[5]).is_absolute() for r in rows)  # the server's paths stay private
    (corpus / "polisci" / "m00002.md").write_text((corpus / "polisci" / "m00002.md").read_text() + "\nMore.\n")
    views.reindex(lambda done, total: seen.append((done, total)))
    assert seen and seen[-1][0] == seen[-1][1] > 0


def test_rating_and_comment_are_stored_with_the_answer(tmp_path):
    store = FeedbackStore(QuestionLog(Settings(index_dir=tmp_path / "index"), HashEmbedder().embed_batch))
    views = Views(FakeAtlas(_answer()), feedback=store, who=lambda request: "alice")
    turns = _ask(views, "What did Pal say about rules?")
    rated: dict[int, str] = {}
    assert views.rate(turns, 0, True, rated) == ("Only answers can be rated.", None)  # message 0 is the question
    note, t = views.rate(turns, 1, True, rated)
    assert t == 0 and "helpful" in note
    views.rate(turns, 1, False, rated)  # a change of mind updates, never duplicates
    assert "saved" in views.comment(rated, t, "Good sources")
    [f] = store.list()
    assert not f.helpful and f.comment == "Good sources" and f.citations[0]["n"] == 1
    [logged] = store.log.entries("default")  # the rating went onto the question's log record
    assert logged.id == turns[0].log_id == f.id and logged.student == store.log.student("local")
    rows = views.feedback_rows()
    assert rows[0][1] == "✗ not helpful" and rows[0][5] == "Good sources" and "[1] Page <b>T</b> (Pal)" in rows[0][4]
    assert "Ratings" in views.feedback_summary()
    assert views.export_feedback("csv").exists() and views.export_feedback("json").exists()


def test_default_feedback_store_is_the_question_log_of_the_atlas_store(tmp_path):
    views = Views(FakeAtlas(tmp=tmp_path))
    assert views.feedback.log.settings.index_dir == tmp_path / "index" and views.feedback.course == "default"


def test_examples_come_from_the_indexed_pages(hash_atlas):
    examples = Views(hash_atlas).examples()
    assert BORINS_QUESTION in examples and len(examples) <= 4


def test_examples_use_key_terms_and_never_a_title_many_pages_share():
    from atlas_qa.examples import example_questions

    intro = [Document(f"p{i}", "Introduction", "Text.", "s", "md") for i in range(16)]
    termed = Document("t", "Introduction", "Text.", "s", "md", key_terms=("public policy", "power"))
    titled = Document("u", "Federalism in Canada", "Text.", "s", "md")
    generic = Document("v", "Summary", "Text.", "s", "md")
    found = example_questions(
        [*intro, termed, titled, generic, Document("w", "Power", "T.", "s", "md", key_terms=("power",))]
    )
    assert found == ["What is public policy?", "What does the course say about Federalism in Canada?", "What is power?"]
    assert not any("Introduction" in q or "Summary" in q for q in found)


# -- the app and how it is served ----------------------------------------------------------------------------------


def test_app_builds_without_launching_and_serves_several_users_at_once(hash_atlas):
    app = build_app(hash_atlas)
    assert app.title == "atlas-qa" and not app.is_running
    assert app._queue.default_concurrency_limit == 4


def test_launch_options_listen_locally_and_keep_private_files_private(tmp_path):
    settings = Settings(index_dir=tmp_path / "index", corpus=tmp_path / "corpus")
    options = launch_options(settings)
    assert options["server_name"] == "127.0.0.1" and options["server_port"] == 7860
    assert options["share"] is False and options["allowed_paths"] == [] and options["mcp_server"] is False
    assert set(options["blocked_paths"]) == {str((tmp_path / "index").resolve()), str((tmp_path / "corpus").resolve())}


def test_the_shared_login_setting_is_refused_with_what_replaces_it(hash_settings):
    from atlas_qa import server

    with pytest.raises(ConfigError, match="atlas-qa users add"):
        server.serve(hash_settings, env={"ATLAS_QA_AUTH": "prof:pw"})


def test_without_users_the_app_serves_only_this_machine_and_says_so(monkeypatch, corpus, hash_settings, capsys):
    import uvicorn

    from atlas_qa import server

    with pytest.raises(ConfigError, match="127.0.0.1 only"):
        server.serve(hash_settings.with_(corpus=corpus, host="0.0.0.0"), env={})
    served = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.update(kw, app=app))
    settings = hash_settings.with_(corpus=corpus, port=7999)
    server.serve(settings, env={})
    assert served["port"] == 7999 and served["host"] == "127.0.0.1" and served["proxy_headers"] is False
    assert "No users configured: serving one person at http://127.0.0.1:7999" in capsys.readouterr().out
    assert Atlas(settings).index.count() > 0


def test_importing_the_ui_loads_no_gradio():
    code = "import sys, atlas_qa.ui; assert 'gradio' not in sys.modules and 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_click_in_the_sources_panel_opens_the_page_through_gradios_event_data(tmp_path):
    """sources.js sends {"open": "t:n"} or {"cite": "src-t-n"}; the callback reads it as an EventData subclass
    (as Gradio's SelectData), not through Gradio's private `_data`."""
    app = build_app(FakeAtlas(_answer(), tmp=tmp_path))
    ids = {block._id: getattr(block, "elem_id", None) for block in app.blocks.values()}
    fn = next(
        f.fn for f in app.fns.values() if any(ids.get(getattr(t, "_id", t)) == "aq-sources" for t, _ in f.targets)
    )
    click = fn.__annotations__["evt"]
    turns = [ChatTurn("q", "q", _answer())]
    _, side, page = fn(turns, click(None, {"open": "0:1"}))
    assert side.selected == "page" and "aq-pageview" in page and "Rules matter a lot." in page
    sources, side, _ = fn(turns, click(None, {"cite": "src-0-1"}))
    assert side.selected == "sources" and 'id="src-0-1"' in sources
    assert all(type(x).__name__ == "SkipValue" or x is not None for x in fn(turns, click(None, None)))


def test_a_citation_carries_where_its_passage_starts_so_the_views_search_no_page(hash_atlas, monkeypatch):
    from atlas_qa import explain

    answer = hash_atlas.ask(BORINS_QUESTION)
    for c in answer.citations:
        assert c.offset >= 0 and hash_atlas.document(c.page_id).text[c.offset : c.offset + len(c.text)] == c.text
    monkeypatch.setattr(explain, "chunk_offset", lambda *a: pytest.fail("searched the page for the passage"))
    views = Views(hash_atlas)
    assert "<mark>" in views.sources([ChatTurn(answer.question, answer.question, answer)])


def test_the_export_folder_goes_with_the_views():
    """Downloads are written to a private temp folder, removed when the app's views are (they piled up in /tmp)."""
    import gc

    views = Views(FakeAtlas())
    folder = views.export_dir()
    (folder / "feedback.csv").write_text("x", encoding="utf-8")
    assert folder.is_dir() and folder.stat().st_mode & 0o077 == 0  # private (mkdtemp makes it 0700)
    del views
    gc.collect()
    assert not folder.exists()
