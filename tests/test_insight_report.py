"""The insight report from hand-built logs (tiny deterministic embedder, vectors given by hand where meaning matters)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from atlas_qa.config import Settings
from atlas_qa.core import Atlas
from atlas_qa.errors import AtlasError
from atlas_qa.insight import QuestionLog, build_insights, insight_tables, insights_json
from atlas_qa.insight.entry import parse_day
from atlas_qa.types import Answer

DAY = 86400.0


@pytest.fixture
def atlas(corpus: Path, hash_settings, backend) -> Atlas:
    """The counts are SQL: each report test runs on SQLite and on PostgreSQL."""
    a = Atlas(hash_settings.with_(database_url=backend))
    a.ingest([corpus])
    return a


@pytest.fixture
def qlog(atlas: Atlas):
    log = QuestionLog.open(atlas.settings, atlas)
    yield log
    log.close()


def _refused(question: str) -> Answer:
    return Answer(question, "The course material does not cover this.", True, ())


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v)).astype(np.float32)


def test_a_missing_topic_asked_twice_by_two_students_is_one_gap(atlas, qlog):
    dim = atlas.embedder.dimension
    rng = np.random.default_rng(0)
    topic, other = rng.normal(size=dim), rng.normal(size=dim)
    for user, q, v in [
        ("alice", "How do I register to vote in another country?", topic),
        ("bob", "What is the registration process for voting abroad?", topic + 0.1 * rng.normal(size=dim)),
        ("bob", "What is the best pizza in town?", other),
    ]:
        qlog.record("default", user, _refused(q), q, vector=_unit(v))
    answered = atlas.ask("What is politics?")
    qlog.record("default", "alice", answered, "What is politics?", document=atlas.index.document)
    qlog.flush()

    ins = build_insights(atlas, qlog, "default")

    assert (ins.questions, ins.refused, ins.students) == (4, 3, 2)
    first, second = ins.gaps
    assert set(first.questions) == {
        "How do I register to vote in another country?",
        "What is the registration process for voting abroad?",
    }
    assert first.students == 2 and second.students == 1 and second.questions == ("What is the best pizza in town?",)
    assert first.label and all(p.page_id in {r["page_id"] for r in atlas.index.pages()} for p in first.closest_pages)
    assert len(first.closest_pages) >= 1
    data = insights_json(ins)
    assert data["gaps"][0]["students"] == 2 and len(data["gaps"][0]["questions"]) == 2
    assert json.loads(json.dumps(data)) == data  # plain JSON


def test_pages_most_asked_first_and_never_asked_last(atlas, qlog):
    for q, user in [("What is politics?", "a"), ("What is politics?", "b"), ("What are de facto rules?", "a")]:
        qlog.record("default", user, atlas.ask(q), q)
    qlog.flush()
    ins = build_insights(atlas, qlog, "default")
    counts = [p.questions for p in ins.pages]
    assert counts == sorted(counts, reverse=True)
    asked = [p for p in ins.pages if p.questions]
    never = [p for p in ins.pages if not p.questions]
    assert asked and never and len(ins.pages) == len(atlas.index.pages())
    top = asked[0]
    assert top.questions == sum(top.page_id in e.pages for e in qlog.entries("default"))
    assert top.students == len({e.student for e in qlog.entries("default") if top.page_id in e.pages})
    assert ins.topics and ins.topics[0][1] >= 1
    headers, rows = insight_tables(ins)["pages"]
    assert headers[:4] == ["page_id", "title", "topic", "questions"]
    assert [r[3] for r in rows] == [p["questions"] for p in insights_json(ins)["pages"]]


def test_per_day_has_every_day_oldest_first_and_the_date_range_filters(atlas, qlog):
    start = parse_day("2026-03-01")
    for day in (0, 0, 3):  # nothing on days 1 and 2
        qlog.record("default", "a", _refused("Where is the cafeteria?"), when=start + day * DAY + 3600)
    qlog.flush()
    ins = build_insights(atlas, qlog, "default")
    assert ins.per_day == (("2026-03-01", 2), ("2026-03-02", 0), ("2026-03-03", 0), ("2026-03-04", 1))
    narrow = build_insights(atlas, qlog, "default", since="2026-03-02", until="2026-03-04")
    assert narrow.questions == 1 and narrow.per_day == (("2026-03-02", 0), ("2026-03-03", 0), ("2026-03-04", 1))
    assert (narrow.since, narrow.until) == ("2026-03-02", "2026-03-04")
    with pytest.raises(AtlasError, match="not a date"):
        build_insights(atlas, qlog, "default", since="last tuesday")
    with pytest.raises(AtlasError, match="before"):
        build_insights(atlas, qlog, "default", since="2026-03-04", until="2026-03-01")


def test_confusions_and_cited_works_come_from_follow_ups_ratings_and_attribution(atlas, qlog):
    answer = atlas.ask("What is politics?")
    rid = qlog.record("default", "a", answer, "What is politics?", document=atlas.index.document)
    qlog.record("default", "a", answer, "And who said so?", follow_up=True, document=atlas.index.document)
    qlog.rate("default", rid, False, "unclear")
    qlog.flush()
    ins = build_insights(atlas, qlog, "default")
    page = answer.citations[0].page_id
    [c] = [c for c in ins.confusions if c.page_id == page]
    assert (c.follow_ups, c.thumbs_down) == (1, 1) and set(c.questions) == {"What is politics?", "And who said so?"}
    assert ins.cited and ins.cited[0].citations == 2
    assert [w.citations for w in ins.cited] == sorted((w.citations for w in ins.cited), reverse=True)
    assert {w.page_id for w in ins.cited} <= {c.page_id for c in answer.citations}


def test_an_empty_log_gives_an_empty_report(atlas, qlog):
    ins = build_insights(atlas, qlog, "default")
    assert (ins.questions, ins.gaps, ins.per_day, ins.cited) == (0, (), (), ())
    assert all(p.questions == 0 for p in ins.pages)


@pytest.mark.e2e
def test_with_the_real_model_two_rephrasings_of_a_missing_topic_are_one_gap(real_atlas, tmp_path):
    """Real model, real index: refused questions asked by two students in other words become one gap theme, labelled
    with its words and pointed at the nearest pages; unrelated refused questions stay apart."""
    log = QuestionLog(Settings(index_dir=tmp_path / "log"), real_atlas.sentence_vectors)
    asked = [
        ("alice", "How do I register to vote in another country?"),
        ("bob", "What is the registration process for voting abroad?"),
        ("bob", "What is the best pizza place near the university?"),
        ("carol", "Who won the football championship last year?"),
    ]
    for user, q in asked:
        log.record("default", user, _refused(q), q)  # refused (as the app would); the real model's vectors
    log.close()
    ins = build_insights(real_atlas, log, "default")
    assert ins.refused == 4 and len(ins.gaps) == 3
    top = ins.gaps[0]
    assert set(top.questions) == {asked[0][1], asked[1][1]} and top.students == 2
    assert {"vote", "voting", "register", "registration", "abroad", "country"} & set(top.label.split())
    assert top.closest_pages and all(p.title for p in top.closest_pages)


def test_a_footnote_is_named_in_the_audit_by_its_reference_not_its_marker():
    from atlas_qa.insight.record import work_name

    assert work_name("Borins, 2007", "Borins, S. (2007). Governance.") == "Borins, 2007"
    assert work_name("[^4]", "John Locke. 1689. Two Treatises of Government.") == (
        "John Locke. 1689. Two Treatises of Government."
    )
    long = "A" * 150
    assert work_name("[^1]", long) == "A" * 99 + "…"
    assert work_name("[^2]", "") == "[^2]"  # nothing better to show


def test_students_are_counted_without_the_courses_instructors_and_admins(atlas, qlog):
    """Instructors and admins try the app too: their questions are counted, but they are not students."""
    from atlas_qa import database
    from atlas_qa.users import UserStore

    store = UserStore(database.accounts_url(atlas.settings), rounds=4)
    store.add("alice", "student", ["default"], "alice-password")
    store.add("prof", "instructor", ["default"], "prof-password")
    store.add("bea", "student", ["default"], "bea-password")
    store.add("root", "admin", [], "root-password")
    answered = atlas.ask("What is politics?")
    for user in ("alice", "prof", "bea", "root", "alice"):
        qlog.record("default", user, answered, "What is politics?", document=atlas.index.document)
        qlog.record("default", user, _refused("What is the best pizza in town?"), "What is the best pizza in town?")
    qlog.flush()

    ins = build_insights(atlas, qlog, "default")

    assert (ins.questions, ins.students) == (10, 2)
    assert {p.students for p in ins.pages if p.questions} == {2}
    assert [g.students for g in ins.gaps] == [2]
