import csv
import json
import threading
import time

import pytest

from atlas_qa.config import Settings
from atlas_qa.evaluate.report import safe_cell
from atlas_qa.insight import QuestionLog
from atlas_qa.ratings import MAX_COMMENT_CHARS, FeedbackStore
from atlas_qa.types import Answer, Citation, Cite
from tests.embedder import HASH, HashEmbedder


def _store(tmp_path, course: str = "default", url: str = "") -> FeedbackStore:
    """The ratings of `course` in the question log of the index folder `tmp_path`/index (or the database `url`)."""
    settings = Settings(index_dir=tmp_path / "index", database_url=url)
    return FeedbackStore(QuestionLog(settings, HashEmbedder().embed_batch), course)


def _answer(text: str = "Rules matter. [1]") -> Answer:
    cit = Citation(
        1,
        "p1",
        "Rules page",
        "src",
        "Rules",
        "Pal",
        "213",
        (Cite("Pal, 2014", "Pal (2014). Book."),),
        "Rules matter.",
        0.9,
        0,
        13,
    )
    return Answer("What did Pal say about rules?", text, False, (cit,))


def test_a_rating_keeps_question_answer_and_citations(tmp_path, backend):
    store = _store(tmp_path, url=backend)
    assert store.list() == []
    fid = store.add("What did he say about rules?", _answer(), helpful=True, comment="  Clear.  ")
    [f] = store.list()
    assert f.id == fid and f.helpful and f.comment == "Clear."
    assert f.question == "What did he say about rules?" and f.asked == "What did Pal say about rules?"
    assert f.answer == "Rules matter. [1]" and not f.refused
    assert f.citations[0]["speaker"] == "Pal" and f.citations[0]["cites"][0]["reference"] == "Pal (2014). Book."
    assert store.log.entries("default")[0].helpful is True  # the rating is on the answer's log record


def test_update_changes_the_rating_and_sets_a_capped_comment(tmp_path, backend):
    store = _store(tmp_path, url=backend)
    fid = store.add("q", _answer(), helpful=True)
    store.update(fid, helpful=False)
    store.update(fid, comment="x" * (MAX_COMMENT_CHARS + 50))
    [f] = store.list()
    assert not f.helpful and len(f.comment) == MAX_COMMENT_CHARS


def test_list_is_newest_first_and_limited(tmp_path, backend):
    store = _store(tmp_path, url=backend)
    ids = [store.add(f"q{i}", _answer(), helpful=i % 2 == 0) for i in range(3) if not time.sleep(0.01)]
    assert [f.id for f in store.list()] == ids[::-1]
    assert [f.question for f in store.list(limit=1)] == ["q2"]


def test_exports_csv_and_json(tmp_path, backend):
    store = _store(tmp_path, url=backend)
    store.add('=HYPERLINK("http://evil")', _answer(), helpful=False, comment="@SUM(1)")
    rows = list(csv.reader(store.export_csv(tmp_path / "fb.csv").open(encoding="utf-8")))
    assert rows[0][:3] == ["id", "created_at", "question"] and len(rows) == 2
    record = dict(zip(rows[0], rows[1]))
    assert record["question"].startswith("'=") and record["comment"] == "'@SUM(1)"  # never a live formula
    assert record["citations"] == "[1] Rules page (Pal)"
    data = json.loads(store.export_json(tmp_path / "fb.json").read_text(encoding="utf-8"))
    assert data[0]["helpful"] is False and data[0]["citations"][0]["page_id"] == "p1"


def test_threads_can_share_a_store(tmp_path, backend):
    store = _store(tmp_path, url=backend)
    threads = [threading.Thread(target=lambda: [store.add("q", _answer(), True) for _ in range(5)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store.list()) == 20


def test_safe_cell_leaves_ordinary_text_alone():
    assert safe_cell("Rules matter") == "Rules matter" and safe_cell(3) == "3" and safe_cell("-1") == "'-1"


@pytest.mark.parametrize("mode", ["embedded", "server"])
def test_courses_sharing_a_store_never_read_each_others_feedback(request, tmp_path, corpus, mode):
    """Two courses in one index folder (embedded) or on one Chroma server with the app's local folder: each app
    lists, exports and changes only its own course's ratings."""
    from atlas_qa.config import Settings
    from atlas_qa.core import Atlas
    from atlas_qa.ui import Views

    url = request.getfixturevalue("chroma_server") if mode == "server" else ""
    base = Settings(index_dir=tmp_path / "shared", model="hash-64", embedder=HASH, refuse_below=0.0, chroma_url=url)
    courses = {}
    for name, folder in ((f"atlas107-{mode}", "atlas107"), (f"polisci-{mode}", "polisci")):
        atlas = Atlas(base.with_(course=name))
        atlas.ingest([corpus / folder])
        courses[name] = (atlas, Views(atlas))
    (a, views_a), (b, views_b) = courses.values()
    secret = "What did Borins say about IT-enabled government?"
    fid = views_a.feedback.add(secret, a.ask(secret), helpful=True, comment="course A only")
    views_b.feedback.add("What are de facto rules?", b.ask("What are de facto rules?"), helpful=False)

    assert [row[2] for row in views_a.feedback_rows()] == [secret]
    assert [row[2] for row in views_b.feedback_rows()] == ["What are de facto rules?"]
    exported = json.loads(views_b.export_feedback("json").read_text(encoding="utf-8"))
    assert [f["question"] for f in exported] == ["What are de facto rules?"]
    views_b.feedback.update(fid, helpful=False, comment="overwritten by B")  # another course's id: no effect
    [mine] = views_a.feedback.list()
    assert mine.helpful and mine.comment == "course A only"
    assert views_b.feedback.list()[0].id != fid


@pytest.mark.parametrize("schema", [1, 2])
def test_old_feedback_files_are_imported_into_the_log_once(tmp_path, schema):
    """Ratings of `feedback.sqlite3` (schema 1: no course, shown with `default`; schema 2: per course) become rated log
    records on the log's first use, once: a second open imports nothing again, the file is left as it was."""
    import sqlite3

    path = tmp_path / "index" / "feedback.sqlite3"
    path.parent.mkdir()
    now = time.time()
    course_column = ", course TEXT NOT NULL DEFAULT ''" if schema == 2 else ""
    with sqlite3.connect(path) as db:  # the file an older atlas-qa wrote
        db.executescript(
            f"""
            CREATE TABLE feedback (
                id INTEGER PRIMARY KEY AUTOINCREMENT, created_at REAL NOT NULL, question TEXT NOT NULL,
                asked TEXT NOT NULL, answer TEXT NOT NULL, refused INTEGER NOT NULL, helpful INTEGER NOT NULL,
                comment TEXT NOT NULL DEFAULT '', citations TEXT NOT NULL{course_column});
            PRAGMA user_version = {schema};
            """
        )
        cits = json.dumps([{"n": 1, "page_id": "p1", "title": "Rules page", "speaker": "Pal", "cites": []}])
        db.execute(
            "INSERT INTO feedback (created_at, question, asked, answer, refused, helpful, comment, citations)"
            " VALUES (?, 'old question', 'old question asked', 'old answer [1]', 0, 1, 'old comment', ?)",
            (now - 3600, cits),
        )
        db.execute(
            "INSERT INTO feedback (created_at, question, asked, answer, refused, helpful, comment, citations)"
            " VALUES (?, 'refused one', 'refused one', 'Not covered.', 1, 0, '', '[]')",
            (now - 60,),
        )
        if schema == 2:
            db.execute(
                "INSERT INTO feedback (created_at, question, asked, answer, refused, helpful, comment, citations,"
                " course) VALUES (?, 'polisci q', 'polisci q', 'a', 0, 1, '', '[]', 'polisci')",
                (now,),
            )
    before = path.read_bytes()
    default = _store(tmp_path)
    new, old = default.list()
    assert (old.question, old.asked, old.comment, old.helpful, old.answer) == (
        "old question",
        "old question asked",
        "old comment",
        True,
        "old answer [1]",
    )
    assert old.citations[0]["speaker"] == "Pal" and abs(old.created_at - (now - 3600)) < 1
    assert new.refused and not new.helpful
    assert [e.question for e in default.log.entries("default")] == ["old question", "refused one"]
    assert [f.question for f in _store(tmp_path, "polisci").list()] == (["polisci q"] if schema == 2 else [])
    default.add("new question", _answer(), helpful=False)
    again = _store(tmp_path)  # another process opening the same log: nothing imported twice
    assert [f.question for f in again.list()] == ["new question", "refused one", "old question"]
    assert path.read_bytes() == before  # the old file is kept as it was
