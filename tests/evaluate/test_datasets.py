"""Evaluation data sets (evaluate/datasets.py): question sets and BEIR folders, with clear errors for bad lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from atlas_qa.errors import AtlasError
from atlas_qa.evaluate import (
    Question,
    load_beir,
    load_questions,
    write_beir_corpus,
)
from atlas_qa.loaders import load_corpus

from ..conftest import DATA


def test_load_questions(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text(
        '{"id": "q1", "question": "What is power?", "gold_page": "m00002", "kind": "objective"}\n'
        "\n"
        '{"id": "q2", "question": "Two pages?", "gold_page": ["a", "b"]}\n',
        encoding="utf-8",
    )
    qs = load_questions(path)
    assert qs == [
        Question("q1", "What is power?", ("m00002",), "objective"),
        Question("q2", "Two pages?", ("a", "b"), ""),
    ]


def test_load_questions_real_fixture():
    qs = load_questions(DATA / "polisci_questions.jsonl")
    assert len(qs) == 36 and qs[0].gold_page == "m00002" and qs[0].kind == "objective"


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ('{"id": "q2", "question": "no gold"}', r"q\.jsonl:2: 'gold_page' must be a non-empty string \(missing\)"),
        ('{"id": "q2", "question": "x", "gold_page": "p"', r"q\.jsonl:2: not valid JSON"),
        ('["q2", "x", "p"]', r"q\.jsonl:2: expected a JSON object, got list"),
        ('{"id": "q2", "question": "", "gold_page": "p"}', r"q\.jsonl:2: 'question' must be a non-empty string"),
        ('{"id": "q1", "question": "x", "gold_page": "p"}', r"q\.jsonl:2: duplicate id 'q1' \(first on line 1\)"),
    ],
)
def test_load_questions_bad_line_names_file_and_line(tmp_path, bad, message):
    path = tmp_path / "q.jsonl"
    path.write_text('{"id": "q1", "question": "ok", "gold_page": "p"}\n' + bad + "\n", encoding="utf-8")
    with pytest.raises(AtlasError, match=message):
        load_questions(path)


def test_load_questions_empty_or_missing_file(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(AtlasError, match="no questions"):
        load_questions(empty)
    with pytest.raises(AtlasError, match="cannot read"):
        load_questions(tmp_path / "nope.jsonl")


def write_beir(folder: Path) -> Path:
    corpus = [
        {"_id": "d1", "title": "Power", "text": "Power is the ability to make others act."},
        {"_id": "d2", "title": 'Hobbes: "Leviathan"', "text": "# Intro\nHobbes wrote Leviathan in 1651."},
        {"_id": "doc/3", "title": "", "text": "Regimes differ."},
        {"_id": "4", "title": "yes", "text": "Unicode — ok ✓"},
    ]
    queries = [
        {"_id": "q1", "text": "What is power?"},
        {"_id": "q2", "text": "Who wrote Leviathan?"},
        {"_id": "q3", "text": "No relevant docs"},
        {"_id": "q4", "text": "No qrels at all"},
    ]
    folder.mkdir()
    (folder / "corpus.jsonl").write_text("\n".join(json.dumps(r) for r in corpus) + "\n", encoding="utf-8")
    (folder / "queries.jsonl").write_text("\n".join(json.dumps(r) for r in queries) + "\n", encoding="utf-8")
    (folder / "qrels").mkdir()
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t2\nq2\tdoc/3\t1\nq3\td1\t0\nq2\t4\t0\n", encoding="utf-8"
    )
    return folder


def test_load_beir(tmp_path):
    corpus, questions = load_beir(write_beir(tmp_path / "beir"))
    assert [r["_id"] for r in corpus] == ["d1", "d2", "doc/3", "4"]
    assert corpus[1] == {
        "_id": "d2",
        "title": 'Hobbes: "Leviathan"',
        "text": "# Intro\nHobbes wrote Leviathan in 1651.",
    }
    # q3 has only a zero-score judgement and q4 none: both dropped; score 0 on q2/4 is not relevant
    assert questions == [
        Question("q1", "What is power?", ("d1",)),
        Question("q2", "Who wrote Leviathan?", ("d2", "doc/3")),
    ]


def test_load_beir_missing_split_names_the_file(tmp_path):
    folder = write_beir(tmp_path / "beir")
    with pytest.raises(AtlasError, match=r"qrels[/\\]dev\.tsv not found"):
        load_beir(folder, split="dev")


def test_load_beir_bad_qrels_line(tmp_path):
    folder = write_beir(tmp_path / "beir")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1 d1 1\n", encoding="utf-8")
    with pytest.raises(AtlasError, match=r"test\.tsv:2: expected"):
        load_beir(folder)


def test_write_beir_corpus_round_trips_through_loader(tmp_path):
    corpus, _ = load_beir(write_beir(tmp_path / "beir"))
    out = write_beir_corpus(corpus, tmp_path / "pages")
    assert out == tmp_path / "pages"
    assert len(list(out.glob("*.md"))) == 4
    result = load_corpus([out])
    assert result.skipped == []
    docs = {d.page_id: d for d in result.documents}
    assert set(docs) == {"d1", "d2", "doc/3", "4"}
    assert docs["d1"].title == "Power"
    assert docs["d2"].title == 'Hobbes: "Leviathan"'
    assert docs["4"].title == "yes"  # not YAML's boolean True
    assert "Hobbes wrote Leviathan in 1651." in docs["d2"].text
    assert "Unicode — ok ✓" in docs["4"].text


def test_write_beir_corpus_sanitised_ids_do_not_collide(tmp_path):
    records = [{"_id": "a/b", "title": "one", "text": "x"}, {"_id": "a?b", "title": "two", "text": "y"}]
    docs = load_corpus([write_beir_corpus(records, tmp_path / "pages")]).documents
    assert sorted(d.page_id for d in docs) == ["a/b", "a?b"]
