"""Instructor-reviewed answers: given first to a question that asks the same thing (the usual answer beside it), never
to another question or course, not while a cited page changed (until confirmed); stored where the log is (SQLite or
PostgreSQL), seen by other replicas, exported and imported (the tests' hash embedder; the real model: e2e below)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from atlas_qa import database
from atlas_qa.asking import Courses
from atlas_qa.cli import main
from atlas_qa.core import Atlas
from atlas_qa.errors import InvalidInputError, NotFoundError
from atlas_qa.reviews import store as review_store
from atlas_qa.reviews.store import ReviewStore, compose
from atlas_qa.types import Answer

from .conftest import SEED

QUESTION = "How has digital technology changed public service delivery?"
OTHER = "What is politics?"


@pytest.fixture
def courses(tmp_path, corpus, hash_settings, backend) -> Courses:
    settings = hash_settings.with_(corpus=corpus, database_url=backend, course="atlas107")
    atlas = Atlas(settings)
    atlas.ingest()
    return Courses(settings, atlas)


def _span(atlas: Atlas, page_id: str, words: str) -> tuple[str, int, int]:
    text = atlas.document(page_id).text
    start = text.index(words)
    return page_id, start, start + len(words)


def _composed(courses: Courses, question: str = QUESTION):
    atlas = courses.atlas("atlas107")
    page = next(p["page_id"] for p in atlas.pages() if p["page_id"].endswith(SEED.name))
    text = atlas.document(page).text
    first = text.split(". ")[3] + "."
    answer = compose(atlas.document, question, [_span(atlas, page, first)])
    review = courses.reviews.create(
        "atlas107", [question], "composed", answer, "Start with the first section.", "prof", atlas.page_hash
    )
    return review, page


def test_the_same_question_gets_the_reviewed_answer_and_the_usual_one_beside_it(courses):
    review, page = _composed(courses)
    asked = courses.asker("atlas107").ask("ana", QUESTION)
    assert asked.reviewed is not None and asked.reviewed.id == review.id
    assert asked.answer.sentences[0].page_id == page and asked.answer.citations[0].offset >= 0
    assert asked.usual is not None and asked.usual.answer != asked.answer.answer
    other = courses.asker("atlas107").ask("ana", OTHER)
    assert other.reviewed is None and other.usual is None
    courses.log.flush()
    assert courses.log.review_uses("atlas107") == {review.id: (1, 0, 0)}
    courses.log.rate("atlas107", asked.log_id, helpful=False)
    courses.log.flush()
    assert courses.log.review_uses("atlas107") == {review.id: (1, 0, 1)}


def test_a_review_is_never_given_in_another_course_nor_when_not_covered(courses):
    atlas = courses.atlas("atlas107")
    courses.reviews.create("polisci", [QUESTION], "not_covered", None, "", "prof", {})
    assert courses.asker("atlas107").ask("ana", QUESTION).reviewed is None
    answer = compose(
        atlas.document,
        QUESTION,
        [_span(atlas, atlas.pages()[0]["page_id"], atlas.document(atlas.pages()[0]["page_id"]).text[:30])],
    )
    courses.reviews.create("polisci", [QUESTION], "composed", answer, "", "prof", atlas.page_hash)
    assert courses.asker("atlas107").ask("ana", QUESTION).reviewed is None  # another course's review


def test_a_changed_page_makes_the_review_stale_until_it_is_confirmed(courses, monkeypatch):
    monkeypatch.setattr(review_store, "CHECK_EVERY_S", 0.0)
    review, page = _composed(courses)
    atlas = courses.atlas("atlas107")
    path = Path(atlas.settings.corpus) / "atlas107" / SEED.name
    path.write_text(path.read_text() + "\n\nA paragraph added after the review.\n")
    atlas.ingest()
    asked = courses.asker("atlas107").ask("ana", QUESTION)
    assert asked.reviewed is None  # the usual answer again
    [listed] = [r for r in courses.reviews.list("atlas107", atlas.page_hash) if r.id == review.id]
    assert listed.stale and listed.changes == (f"The page {page} changed since the review.",)
    confirmed = courses.reviews.update(listed, "prof", atlas.page_hash)
    assert not courses.reviews.get(confirmed.id, atlas.page_hash).stale
    assert courses.asker("atlas107").ask("ana", QUESTION).reviewed.id == review.id
    path.unlink()
    atlas.ingest()
    [gone] = courses.reviews.list("atlas107", atlas.page_hash)
    assert gone.changes == (f"The page {page} is no longer in the course.",)


def test_another_replica_sees_a_new_review_within_a_second(courses, monkeypatch):
    monkeypatch.setattr(review_store, "CHECK_EVERY_S", 0.0)
    atlas = courses.atlas("atlas107")
    other = ReviewStore(courses.reviews.url, atlas.sentence_vectors)
    assert len(other.matcher("atlas107")[0]) == 0
    review, _ = _composed(courses)
    questions, by_id = other.matcher("atlas107")
    assert len(questions) == 1 and review.id in by_id
    courses.reviews.delete(review)
    assert len(other.matcher("atlas107")[0]) == 0


def test_composing_refuses_spans_that_are_not_in_their_page(courses):
    atlas = courses.atlas("atlas107")
    page = atlas.pages()[0]["page_id"]
    size = len(atlas.document(page).text)
    for spans, error, message in [
        ([], InvalidInputError, "between 1 and"),
        ([(page, 10, 5)], NotFoundError, "has no characters 10-5"),
        ([(page, 0, size + 1)], NotFoundError, f"has no characters 0-{size + 1}"),
        ([("no/such-page.md", 0, 5)], NotFoundError, "has no page 'no/such-page.md'"),
        ([(page, 0, 2001)], InvalidInputError, "at most 2000 characters"),
    ]:
        with pytest.raises(error, match=message):
            compose(atlas.document, QUESTION, spans)


def test_reviews_export_and_import_move_a_course_to_the_next_term(courses, tmp_path, monkeypatch, capsys):
    review, _ = _composed(courses)
    settings = courses.settings
    env = {
        "ATLAS_QA_INDEX_DIR": str(settings.index_dir),
        "ATLAS_QA_CORPUS": str(settings.corpus),
        "ATLAS_QA_COURSE": "atlas107",
        "ATLAS_QA_MODEL": settings.model,
        "ATLAS_QA_DATABASE_URL": settings.database_url,
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert main(["reviews", "export"]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in exported] == [review.id] and exported[0]["note"] == "Start with the first section."
    assert main(["reviews", "list"]) == 0
    assert f"{review.id}\tcomposed\tprof" in capsys.readouterr().out

    next_term = tmp_path / "next-term"
    shutil.copytree(settings.corpus, next_term)
    monkeypatch.setenv("ATLAS_QA_INDEX_DIR", str(tmp_path / "next-index"))
    monkeypatch.setenv("ATLAS_QA_CORPUS", str(next_term))
    monkeypatch.setenv("ATLAS_QA_DATABASE_URL", "")
    assert main(["ingest"]) == 0
    capsys.readouterr()
    (tmp_path / "reviews.json").write_text(json.dumps(exported))
    (tmp_path / "broken.json").write_text(json.dumps([{"id": "x"}]))
    assert main(["reviews", "import", str(tmp_path / "broken.json")]) == 2  # nothing half-imported
    assert "Not a review" in capsys.readouterr().err
    assert main(["reviews", "import", str(tmp_path / "reviews.json")]) == 0
    assert "imported 1 review into atlas107" in capsys.readouterr().out
    assert main(["reviews", "export"]) == 0
    again = json.loads(capsys.readouterr().out)
    diff = {k: (again[0][k], exported[0][k]) for k in exported[0] if again[0][k] != exported[0][k]}
    assert not diff, diff  # the same pages, unchanged: the same review, not stale
    assert main(["ask", QUESTION, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["reviewed"]["id"] == review.id


PARAPHRASES = [
    "In what ways has digital technology transformed how public services are delivered?",
    "How has digital tech changed the way governments deliver services?",
]
NEAR_MISSES = [
    "Why has digital technology not changed public service delivery?",
    "Who argued that digital technology changed public service delivery?",
]


@pytest.mark.e2e
def test_with_the_real_model_paraphrases_get_the_review_and_near_misses_do_not(real_atlas):
    """The real model and Chroma (embedded, then a server): a reviewed question's paraphrases are given the reviewed
    answer, its near-misses on the same topic (another focus, a negation) the usual one."""
    courses = Courses(real_atlas.settings, real_atlas)
    page = next(p["page_id"] for p in real_atlas.pages() if p["page_id"].endswith(SEED.name))
    first = real_atlas.document(page).text.split(". ")[3] + "."
    answer = compose(real_atlas.document, QUESTION, [_span(real_atlas, page, first)])
    course = real_atlas.settings.course
    review = courses.reviews.create(course, [QUESTION], "composed", answer, "", "prof", real_atlas.page_hash)
    try:
        for q in PARAPHRASES:
            asked = courses.asker(course).ask("ana", q)
            assert asked.reviewed is not None and asked.reviewed.id == review.id, q
            assert asked.answer.sentences[0].text == answer.sentences[0].text and asked.usual is not None
        for q in NEAR_MISSES:
            assert courses.asker(course).ask("ana", q).reviewed is None, q
    finally:
        courses.reviews.delete(review)
        courses.log.close()


def test_endorsing_over_http_takes_an_answer_the_instructor_was_given(courses, tmp_path):
    """POST /api/v1/reviews with `from_answer`: the instructor's own answer is endorsed as it is (and then given to a
    student); another user's answer is 404, a refused one 409, a student 403; a span the page lacks is 404."""
    from atlas_qa.server import create_app
    from atlas_qa.users import UserStore

    from .live import call, running

    atlas = courses.atlas("atlas107")
    store = UserStore.for_settings(atlas.settings)
    store.rounds = 4
    for name, role in (("prof", "instructor"), ("ana", "student")):
        store.add(name, role, ["atlas107"], f"password-{name}")
    prof, ana = ({"Authorization": f"Bearer {store.new_token(n)}"} for n in ("prof", "ana"))
    with running(create_app(atlas.settings, atlas)) as base:
        mine = call(f"{base}/api/v1/ask", "POST", {"question": QUESTION}, prof).json()
        theirs = call(f"{base}/api/v1/ask", "POST", {"question": OTHER}, ana).json()
        refusal = Answer("zzqx vvbn", "The course does not cover this.", True, ())
        refused = courses.log.record("atlas107", "prof", refusal, vector=atlas.question_vector("zzqx vvbn"))
        courses.log.flush()
        endorse = {"question": QUESTION, "from_answer": mine["answer_id"]}
        assert call(f"{base}/api/v1/reviews", "POST", endorse, ana).status == 403
        made = call(f"{base}/api/v1/reviews", "POST", endorse, prof)
        assert made.status == 201 and made.json()["kind"] == "endorsed" and made.json()["by"] == "prof"
        assert made.json()["answer"]["answer"] == mine["answer"]
        given = call(f"{base}/api/v1/ask", "POST", {"question": QUESTION}, ana).json()
        assert given["reviewed"]["id"] == made.json()["id"] and given["answer"] == mine["answer"]
        other = {"question": OTHER, "from_answer": theirs["answer_id"]}
        assert call(f"{base}/api/v1/reviews", "POST", other, prof).status == 404
        nothing = {"question": "zzqx vvbn", "from_answer": refused}
        assert call(f"{base}/api/v1/reviews", "POST", nothing, prof).status == 409
        both = {**endorse, "not_covered": True}
        assert call(f"{base}/api/v1/reviews", "POST", both, prof).status == 422  # one way only
        page = atlas.pages()[0]["page_id"]
        span = {"question": OTHER, "sentences": [{"page_id": page, "start": 0, "end": 10**7}]}
        assert call(f"{base}/api/v1/reviews", "POST", span, prof).status == 404
        rid = made.json()["id"]
        assert call(f"{base}/api/v1/reviews/{rid}", "PUT", {"note": "See also the readings."}, prof).json()["note"]
        assert call(f"{base}/api/v1/reviews/{rid}", "DELETE", None, prof).status == 204
        assert call(f"{base}/api/v1/ask", "POST", {"question": QUESTION}, ana).json()["reviewed"] is None


def test_a_review_question_is_checked_as_an_asked_one(courses):
    from atlas_qa.errors import QuestionError

    for questions in (["¥"], [QUESTION, "   "], ["x" * 1001]):
        with pytest.raises(QuestionError):
            courses.reviews.create("atlas107", questions, "not_covered", None, "", "prof", lambda p: None)


def test_reviews_that_cannot_be_read_leave_questions_answered(courses, monkeypatch):
    """The database unreachable: matching uses the reviews last read (none yet: none), tried again within a second."""
    from tests.live import free_port

    store = ReviewStore(f"postgresql://atlas@127.0.0.1:{free_port()}/gone", courses.atlas("atlas107").sentence_vectors)
    questions, by_id = store.matcher("atlas107")
    assert len(questions) == 0 and by_id == {}
    assert store.matcher("atlas107")[0] is questions  # not tried again on every question


def test_looking_for_reviews_makes_no_database_file(tmp_path, hash_settings):
    """`atlas-qa ask` on an index with no log yet (or in Chroma server mode, which writes nothing locally) finds no
    reviews and leaves no file behind."""
    url = database.sqlite_url(tmp_path / "idx" / "questions.sqlite3")
    questions, by_id = ReviewStore(url, lambda texts: None).matcher("atlas107")  # type: ignore[arg-type,return-value]
    assert len(questions) == 0 and by_id == {} and not (tmp_path / "idx").exists()


def test_reviewed_questions_are_respelled_again_when_the_course_words_change(courses, corpus):
    """A reviewed question is compared in the course's words as they are now: a re-ingest that brings the word its
    slip was meant for matches it at once (not when the next review is saved)."""
    review, _ = _composed(courses, "How is the zorbxa measured?")
    atlas = courses.atlas("atlas107")
    asker = courses.asker("atlas107")
    assert asker.ask("ana", "How is the zorbxa measured?").reviewed is not None  # the same words, the same question
    before, _ = courses.reviews.matcher("atlas107", atlas.in_course_words, atlas.view().generation)
    assert before.texts == ("How is the zorbxa measured?",)  # no course word one edit away: as typed
    (corpus / "atlas107" / "zorbax.txt").write_text("Zorbax\n\nThe zorbax is measured in zorbax units each year.\n")
    atlas.ingest()
    after, _ = courses.reviews.matcher("atlas107", atlas.in_course_words, atlas.view().generation)
    assert after.texts == ("How is the zorbax measured?",)
    got = asker.ask("ana", "How is the zorbax measured?")
    assert got.reviewed is not None and got.reviewed.id == review.id


@pytest.mark.parametrize(
    ("reviewed", "asked"),
    [
        ("What is digital technology?", "What is digital tecnology?"),  # the student's slip
        ("What is digital tecnology?", "What is digital technology?"),  # the instructor's
    ],
)
def test_a_slip_of_the_keyboard_on_either_side_still_matches(courses, reviewed, asked):
    review, _ = _composed(courses, reviewed)
    got = courses.asker("atlas107").ask("ana", asked)
    assert got.reviewed is not None and got.reviewed.id == review.id
    questions, _ = courses.reviews.matcher("atlas107", courses.atlas("atlas107").in_course_words)
    assert questions.texts == ("What is digital technology?",)  # compared in the course's words
