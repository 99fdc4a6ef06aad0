import csv
import json
import threading

from atlas_qa.feedback import MAX_COMMENT_CHARS, FeedbackStore, safe_cell
from atlas_qa.types import Answer, Citation, Cite


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


def test_a_rating_keeps_question_answer_and_citations(tmp_path):
    store = FeedbackStore.for_index(tmp_path / "index")
    assert store.list() == [] and not store.path.exists()  # nothing is written until someone rates
    fid = store.add("What did he say about rules?", _answer(), helpful=True, comment="  Clear.  ")
    [f] = store.list()
    assert f.id == fid and f.helpful and f.comment == "Clear."
    assert f.question == "What did he say about rules?" and f.asked == "What did Pal say about rules?"
    assert f.answer == "Rules matter. [1]" and not f.refused
    assert f.citations[0]["speaker"] == "Pal" and f.citations[0]["cites"][0]["reference"] == "Pal (2014). Book."
    assert store.path == tmp_path / "index" / "feedback.sqlite3"


def test_update_changes_the_rating_and_sets_a_capped_comment(tmp_path):
    store = FeedbackStore(tmp_path / "fb.sqlite3")
    fid = store.add("q", _answer(), helpful=True)
    store.update(fid, helpful=False)
    store.update(fid, comment="x" * (MAX_COMMENT_CHARS + 50))
    [f] = store.list()
    assert not f.helpful and len(f.comment) == MAX_COMMENT_CHARS


def test_list_is_newest_first_and_limited(tmp_path):
    store = FeedbackStore(tmp_path / "fb.sqlite3")
    ids = [store.add(f"q{i}", _answer(), helpful=i % 2 == 0) for i in range(3)]
    assert [f.id for f in store.list()] == ids[::-1]
    assert [f.question for f in store.list(limit=1)] == ["q2"]


def test_exports_csv_and_json(tmp_path):
    store = FeedbackStore(tmp_path / "fb.sqlite3")
    store.add('=HYPERLINK("http://evil")', _answer(), helpful=False, comment="@SUM(1)")
    rows = list(csv.reader(store.export_csv(tmp_path / "fb.csv").open(encoding="utf-8")))
    assert rows[0][:3] == ["id", "created_at", "question"] and len(rows) == 2
    record = dict(zip(rows[0], rows[1]))
    assert record["question"].startswith("'=") and record["comment"] == "'@SUM(1)"  # never a live formula
    assert record["citations"] == "[1] Rules page (Pal)"
    data = json.loads(store.export_json(tmp_path / "fb.json").read_text(encoding="utf-8"))
    assert data[0]["helpful"] is False and data[0]["citations"][0]["page_id"] == "p1"


def test_threads_can_share_a_store(tmp_path):
    store = FeedbackStore(tmp_path / "fb.sqlite3")
    threads = [threading.Thread(target=lambda: [store.add("q", _answer(), True) for _ in range(5)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store.list()) == 20


def test_safe_cell_leaves_ordinary_text_alone():
    assert safe_cell("Rules matter") == "Rules matter" and safe_cell(3) == "3" and safe_cell("-1") == "'-1"
