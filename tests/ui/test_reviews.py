"""Reviewing answers in the app (ui/reviews.py, ui/reviews_tab.py): a reviewed answer in the chat is labelled with the
instructor's date and note, the usual answer one click away; instructors compose from course sentences, endorse a chat
answer, mark a question not covered, confirm a review whose page changed, delete one; students can do none of it (the
hash embedder: the same question matches; paraphrases with the real model are the browser test's)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from atlas_qa.asking import Courses
from atlas_qa.core import Atlas
from atlas_qa.errors import InvalidInputError
from atlas_qa.reviews import store as review_store
from atlas_qa.types import Answer
from atlas_qa.ui.app import build_app
from atlas_qa.ui.chat import ChatTurn, render_reply
from atlas_qa.ui.reviews import gap_questions, parse_key, span_key
from atlas_qa.ui.reviews_tab import latest, move, ticked
from atlas_qa.ui.views import Views
from atlas_qa.users import User
from tests.conftest import SEED

from .test_insight_tab import _event

QUESTION = "How has digital technology changed public service delivery?"
COURSE = "atlas107"


@pytest.fixture
def courses(corpus: Path, hash_settings, monkeypatch) -> Courses:
    monkeypatch.setattr(review_store, "CHECK_EVERY_S", 0.0)  # a new review is matched at once
    settings = hash_settings.with_(corpus=corpus, course=COURSE)
    atlas = Atlas(settings)
    atlas.ingest()
    return Courses(settings, atlas)


@pytest.fixture
def views(courses: Courses) -> Views:
    return Views(courses.atlas(COURSE), courses.feedback(COURSE), asker=courses.asker(COURSE))


def _two_sentences(views: Views) -> list[str]:
    found = views.review_sentences(QUESTION)
    assert len(found) >= 2 and all(" — " in label for label, _ in found)
    in_references = [label.endswith("› References") for label, _ in found]
    assert in_references == sorted(in_references)  # reference lists come last: they hold no answer
    return [found[1][1], found[0][1]]  # picked in another order than found


def test_a_composed_answer_is_given_with_its_label_note_sources_and_the_usual_answer_one_click_away(views):
    picked = _two_sentences(views)
    preview = views.preview(QUESTION, picked, "Read <b>section 2</b> first.")
    assert "[1]" in preview and "[2]" in preview and "&lt;b&gt;section 2&lt;/b&gt;" in preview
    review = views.save_composed(QUESTION, picked, "Read <b>section 2</b> first.", "prof")
    assert review.kind == "composed" and review.by == "prof"
    turn = views.ask(QUESTION, [], user="ana")
    assert turn.reviewed is not None and turn.reviewed.id == review.id and turn.usual is not None
    assert [(s.page_id, s.start, s.end) for s in turn.answer.sentences] == [parse_key(k) for k in picked]
    html = render_reply(0, turn)
    day = re.search(r"Reviewed by your instructor, (\d{4}-\d{2}-\d{2})", html)
    assert day and html.index("Reviewed by your instructor") < html.index('class="aq-answer"')
    note = html[html.index('class="aq-reviewed-note"') : html.index('class="aq-answer"')]
    assert "Instructor's note:" in note and "&lt;b&gt;section 2&lt;/b&gt; first." in note  # theirs, escaped, apart
    answer = html[html.index('class="aq-answer"') :]
    assert "section 2" not in answer.split("<details")[0]  # the note is never mixed into the course text
    assert '<details class="aq-usual"><summary>Show the usual answer</summary>' in html
    assert turn.usual.sentences[0].text.split()[0] in html.split("<summary>")[1]
    assert 'href="#src-0-1"' in html and 'href="#src-0-2"' in html  # its sources, linked as for any answer
    sources = views.sources([turn], 0)
    assert turn.answer.citations[0].title in sources
    other = views.ask("What is politics?", [], user="ana")
    assert other.reviewed is None and "Reviewed by" not in render_reply(0, other)


def test_a_plain_answer_has_no_label_and_no_usual_answer():
    answer = Answer("Q?", "An answer.", False, ())
    html = render_reply(0, ChatTurn("Q?", "Q?", answer))
    assert "Reviewed" not in html and "usual answer" not in html


def test_endorsing_a_chat_answer_stores_it_as_given_for_its_stand_alone_question(views):
    turn = views.ask(QUESTION, [], user="prof")
    review = views.endorse([turn], 0, "prof")
    assert review.kind == "endorsed" and review.questions == (turn.asked,)
    assert review.answer["answer"] == turn.answer.answer
    refused = ChatTurn("Carbon tax?", "Carbon tax?", Answer("Carbon tax?", "Not covered.", True, ()))
    with pytest.raises(InvalidInputError, match="refused answer cannot be endorsed"):
        views.endorse([refused], 0, "prof")
    with pytest.raises(InvalidInputError, match="Pick an answer"):
        views.endorse([], None, "prof")
    again = views.ask(QUESTION, [], user="ben")
    assert again.reviewed.id == review.id
    endorsed_again = views.endorse([again], 0, "prof")  # a reviewed turn: its usual answer is what is endorsed
    assert endorsed_again.answer["answer"] == again.usual.answer


def test_a_changed_page_lists_the_review_first_as_needing_review_until_confirmed(views, courses):
    missing = views.save_not_covered("How does a carbon tax work?", "Add a page on taxes.", "prof")
    review = views.save_composed(QUESTION, _two_sentences(views), "", "prof")
    atlas = courses.atlas(COURSE)
    path = Path(atlas.settings.corpus) / COURSE / SEED.name
    path.write_text(path.read_text() + "\n\nA paragraph added after the review.\n")
    atlas.ingest()
    assert views.ask(QUESTION, [], user="ana").reviewed is None  # the usual answer again
    found = views.reviews_now()
    assert [r.id for r in found] == [review.id, missing.id] and found[0].stale  # needs review first
    assert views.review_choices(found)[0][0].startswith("needs review:")
    table = views.reviews_table(found)
    assert "needs review" in table and "changed since the review" in table and "material to add" in table
    views.confirm_review(review.id, "prof")
    assert not views.reviews_now()[0].stale
    assert views.ask(QUESTION, [], user="ana").reviewed.id == review.id
    assert (
        "How does a carbon tax work?" in views.material_to_add() and "Add a page on taxes." in views.material_to_add()
    )
    views.delete_review(missing.id)
    assert views.material_to_add() == "" and [r.id for r in views.reviews_now()] == [review.id]


def test_uses_and_ratings_are_counted_per_review(views, courses):
    review = views.save_composed(QUESTION, _two_sentences(views), "", "prof")
    turn = views.ask(QUESTION, [], user="ana")
    views.rate([turn], 1, False, {})
    row = views.reviews_table(views.reviews_now()).split("<tbody>")[1]
    assert [int(n) for n in re.findall(r"<td>(\d+)</td>", row)] == [1, 0, 1]
    assert review.id in {r.id for r in views.reviews_now()}


def test_nothing_is_saved_without_a_question_or_sentences(views):
    with pytest.raises(InvalidInputError, match="Type the question"):
        views.save_composed("  ", _two_sentences(views), "", "prof")
    with pytest.raises(InvalidInputError, match="Pick between 1"):
        views.save_composed(QUESTION, [], "", "prof")
    with pytest.raises(InvalidInputError, match="Not a sentence"):
        views.save_composed(QUESTION, ["nonsense"], "", "prof")
    assert views.reviews_now() == []


def test_picking_and_ordering_sentences():
    assert ticked([], ["a", "b", "c"], ["b", "a"]) == ["b", "a"]
    assert ticked(["x", "b"], ["a", "b"], ["a"]) == ["x", "a"]  # picked from another search stay
    assert move(["a", "b", "c"], "c", -1) == ["a", "c", "b"]
    assert move(["a", "b", "c"], "a", -1) == ["a", "b", "c"]
    assert move(["a", "b", "c"], "a", 1) == ["b", "a", "c"]
    assert move(["a", "b", "c"], "b", 0) == ["a", "c"]
    assert move(["a"], None, 1) == ["a"]
    assert parse_key(span_key("atlas107/x:y.txt", 3, 9)) == ("atlas107/x:y.txt", 3, 9)
    answered = ChatTurn("q", answer=Answer("q", "a", False, ()))
    assert latest([answered, ChatTurn("q2", error="boom")]) == 0 and latest([]) is None


def test_gap_questions_are_listed_once():
    gap = type("Gap", (), {})
    one, two = gap(), gap()
    one.questions, two.questions = ("a?", "b?"), ("b?", "c?")
    assert gap_questions(type("Ins", (), {"gaps": (one, two)})()) == ["a?", "b?", "c?"]


def test_every_reviewing_event_answers_the_courses_instructors_only(courses):
    import gradio as gr

    users = {
        "student": User("ana", "student", (COURSE,)),
        "other": User("olga", "instructor", ("other",)),
        "prof": User("prof", "instructor", (COURSE,)),
        "admin": User("root", "admin"),
    }
    atlas = courses.atlas(COURSE)
    app = build_app(atlas, courses.feedback(COURSE), lambda r: users[r], asker=courses.asker(COURSE))
    turn = ChatTurn(QUESTION, QUESTION, atlas.ask(QUESTION))
    calls = {
        ("aq-tab-reviews", "select"): ([turn],),
        ("aq-review-search-go", "click"): (QUESTION, []),
        ("aq-review-found", "input"): ([], [], [], QUESTION, ""),
        ("aq-review-up", "click"): ([], None, [], QUESTION, ""),
        ("aq-review-note", "change"): (QUESTION, [], ""),
        ("aq-review-save", "click"): (QUESTION, [], ""),
        ("aq-review-missing", "click"): (QUESTION, ""),
        ("aq-review-endorse", "click"): ([turn], 0, ""),
        ("aq-reviews-confirm", "click"): ("x",),
        ("aq-reviews-delete", "click"): ("x",),
        ("aq-endorse-latest", "click"): ([turn],),
        ("aq-review-latest", "click"): ([turn],),
    }
    for (elem_id, event), args in calls.items():
        for who in ("student", "other"):
            with pytest.raises(gr.Error, match="instructors"):
                _event(app, elem_id, event)(*args, who)
    assert courses.reviews.list(COURSE) == []
    status = _event(app, "aq-endorse-latest", "click")([turn], "admin")
    assert "Endorsed" in status and [r.by for r in courses.reviews.list(COURSE)] == ["root"]
    tab, question, search, found, *_ = _event(app, "aq-review-latest", "click")([turn], "prof")
    assert tab.selected == "reviews" and question == search == QUESTION and found.choices


def test_without_a_review_store_there_is_no_reviewing(courses):
    atlas = courses.atlas(COURSE)
    app = build_app(atlas, courses.feedback(COURSE))  # an Asker without reviews (as in tests building Views alone)
    elem_ids = {getattr(b, "elem_id", None) for b in app.blocks.values()}
    assert "aq-tab-reviews" not in elem_ids
    row = next(b for b in app.blocks.values() if getattr(b, "elem_id", None) == "aq-review-row")
    assert row.visible is False


def test_insight_offers_the_gaps_questions_for_review_and_lists_the_material_to_add(courses, views):
    import gradio as gr

    from atlas_qa.insight import build_insights

    atlas, log = courses.atlas(COURSE), courses.log
    turn = views.ask(QUESTION, [], user="ana")
    views.rate([turn], 1, False, {})
    views.save_not_covered("How does a carbon tax work?", "", "prof")
    log.flush()
    users = {"prof": User("prof", "instructor", (COURSE,)), "student": User("ana", "student", (COURSE,))}
    app = build_app(
        atlas,
        courses.feedback(COURSE),
        lambda r: users[r],
        insights=lambda c, since, until: build_insights(atlas, log, c, since, until),
        asker=courses.asker(COURSE),
    )
    *_, row, pick, material = _event(app, "aq-insight-show", "click")(COURSE, "", "", "prof")
    assert row.visible is True and pick.value == QUESTION and (QUESTION, QUESTION) in pick.choices
    assert "Material to add" in material and "carbon tax" in material
    tab, question, *_ = _event(app, "aq-insight-review-go", "click")(QUESTION, [], "prof")
    assert tab.selected == "reviews" and question == QUESTION
    with pytest.raises(gr.Error, match="instructors"):
        _event(app, "aq-insight-review-go", "click")(QUESTION, [], "student")
