"""The conversation (ui/chat.py): answers with linked markers, refusals, errors, streaming, follow-ups, filters and
ratings."""

from atlas_qa.config import Settings
from atlas_qa.core import MAX_QUESTION_CHARS
from atlas_qa.errors import IndexNotFoundError
from atlas_qa.insight import QuestionLog
from atlas_qa.ratings import FeedbackStore
from atlas_qa.types import Answer
from atlas_qa.ui import ChatTurn, Views, render_messages, render_reply
from tests.embedder import HashEmbedder

from .fakes import EVIL, FakeAtlas, ask_views, fake_answer


def test_answer_markers_link_to_their_sources_and_text_is_escaped():
    answer = fake_answer(f"{EVIL} Rules matter a lot. [1]")
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
    turns = ask_views(views, "What?")
    assert turns[0].error.startswith("The index is empty")
    assert 'class="aq-error"' in render_messages(turns)[1]["content"]


def test_a_question_that_cannot_be_asked_is_said_above_the_sources_and_adds_no_turn():
    views = Views(FakeAtlas(fake_answer()))
    for question, said in (("x" * (MAX_QUESTION_CHARS + 1), "limit is 1,000"), ("", "Please type"), ("?!", "no words")):
        [(messages, html_, turns)] = list(views.stream(question, [], delay=0))
        assert messages == [] and turns == [] and said in html_ and 'role="alert"' in html_
    assert views.atlas.asked == []


def test_unexpected_failures_end_the_turn_with_a_message(caplog):
    turns = ask_views(Views(FakeAtlas(error=RuntimeError("boom"))), "What?")
    assert "Something went wrong" in turns[0].error and "boom" in caplog.text


def test_answers_stream_in_after_a_placeholder():
    views = Views(FakeAtlas(fake_answer(" ".join(["Rules matter a lot."] * 12) + " [1]")))
    steps = list(views.stream("What did Pal say about rules?", [], delay=0))
    assert "aq-pending" in steps[0][0][-1]["content"] and steps[0][2] == []
    partial = [s for s in steps if "aq-caret" in s[0][-1]["content"]]
    assert len(partial) >= 5 and partial[0][1] is not None and all(s[1] is None for s in partial[1:])
    messages, sources, turns = steps[-1]
    assert len(turns) == 1 and "aq-caret" not in messages[-1]["content"] and 'id="src-0-1"' in sources


def test_follow_ups_are_rewritten_with_the_conversation_before_retrieval():
    atlas = FakeAtlas(fake_answer())
    views = Views(atlas)
    turns = ask_views(views, "Who argued that rules matter?")
    turns = ask_views(views, "What did he say about chess?", turns)
    assert atlas.asked[-1][0] == "What did Pal say about chess?"
    assert turns[-1].question == "What did he say about chess?" and turns[-1].asked == "What did Pal say about chess?"
    assert "Searched for “What did Pal say about chess?”" in render_messages(turns)[-1]["content"]


def test_filters_are_passed_to_ask_only_when_chosen():
    atlas = FakeAtlas(fake_answer())
    views = Views(atlas)
    ask_views(views, "What?")
    views.ask("What?", [], {"course": "Atlas107", "topic": "", "chapter": ""})
    assert atlas.asked == [("What?", None), ("What?", {"course": "Atlas107"})]


def test_rating_and_comment_are_stored_with_the_answer(tmp_path):
    store = FeedbackStore(QuestionLog(Settings(index_dir=tmp_path / "index"), HashEmbedder().embed_batch))
    views = Views(FakeAtlas(fake_answer()), feedback=store, who=lambda request: "alice")
    turns = ask_views(views, "What did Pal say about rules?")
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
