"""The sources panel and the page view (ui/sources.py): each citation's exact span marked in its passage and
its page, everything from the course material escaped."""

import pytest

from atlas_qa.answer import clean
from atlas_qa.types import Citation
from atlas_qa.ui import ChatTurn, Views, chunk_offset, locate, render_messages
from tests.conftest import BORINS_QUESTION

from .fakes import FakeAtlas, ask_views, fake_answer, fake_citation


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
    html = views.card(0, fake_answer(), fake_citation())
    assert "<mark>Rules matter a lot.</mark>" in html
    assert "<script>" not in html and "<img" not in html and "<a href" not in html and "<b>T" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "Page &lt;b&gt;T&lt;/b&gt;" in html
    assert 'id="src-0-1"' in html and 'data-open="0:1"' in html and "Pal (2014, pp. 213-214)" in html


def test_the_span_is_found_in_the_chunk_when_the_page_is_gone():
    views = Views(FakeAtlas())
    moved = Citation(**{**fake_citation().__dict__, "page_id": "gone"})
    assert "<mark>Rules matter a lot.</mark>" in views.card(0, fake_answer("Rules matter a lot. [1]", moved), moved)


def test_a_real_answer_shows_passages_speakers_and_references(hash_atlas):
    views = Views(hash_atlas)
    turns = ask_views(views, BORINS_QUESTION)
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
    turns = ask_views(views, BORINS_QUESTION)
    turns = ask_views(views, "What did he say about rule-bound bureaucracies?", turns)
    assert turns[1].asked == "What did Borins say about rule-bound bureaucracies?"  # the answer quotes Borins
    html = views.sources(turns, 0, focus=1)
    assert 'data-turn="0"' in html and 'class="aq-card aq-focus" id="src-0-1"' in html


def test_open_page_shows_the_whole_page_with_the_span_marked(hash_atlas):
    views = Views(hash_atlas)
    turns = ask_views(views, BORINS_QUESTION)
    html = views.page(turns, 0, 1)
    assert "aq-pageview" in html and "See also: New Public Management." in html
    marked = __import__("re").findall(r'<mark class="passage hit"[^>]*>(.*?)</mark>', html, __import__("re").S)
    assert any("consolidates many common functions" in m for m in marked)
    assert "No page open" in views.page(turns, 5, 1)


def test_a_citation_carries_where_its_passage_starts_so_the_views_search_no_page(hash_atlas, monkeypatch):
    from atlas_qa import explain

    answer = hash_atlas.ask(BORINS_QUESTION)
    for c in answer.citations:
        assert c.offset >= 0 and hash_atlas.document(c.page_id).text[c.offset : c.offset + len(c.text)] == c.text
    monkeypatch.setattr(explain, "chunk_offset", lambda *a: pytest.fail("searched the page for the passage"))
    views = Views(hash_atlas)
    assert "<mark>" in views.sources([ChatTurn(answer.question, answer.question, answer)])
