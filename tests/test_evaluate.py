"""Evaluation: hand-computed metrics, the evaluate() loop with a fake retriever, question/BEIR loading, output."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

from atlas_qa.errors import AtlasError
from atlas_qa.evaluate import (
    Question,
    evaluate,
    format_table,
    load_beir,
    load_questions,
    mrr_at,
    ndcg_at,
    plot_recall,
    recall_at,
    report_json,
    write_beir_corpus,
)
from atlas_qa.loaders import load_corpus

METRICS = {"recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10"}


# ------------------------------------------------------------------------------------------------------ metrics


def test_single_gold_at_rank_3():
    ranked = ["a", "b", "gold", "c"]
    assert recall_at(ranked, {"gold"}, 1) == 0.0
    assert recall_at(ranked, {"gold"}, 2) == 0.0
    assert recall_at(ranked, {"gold"}, 3) == 1.0
    assert mrr_at(ranked, {"gold"}, 10) == pytest.approx(1 / 3)
    assert ndcg_at(ranked, {"gold"}, 10) == pytest.approx(0.5)  # 1 / log2(4)


def test_gold_at_rank_1_is_perfect():
    assert recall_at(["g", "x"], {"g"}, 1) == 1.0
    assert mrr_at(["g", "x"], {"g"}, 10) == 1.0
    assert ndcg_at(["g", "x"], {"g"}, 10) == 1.0


def test_gold_missing_or_beyond_k_scores_zero():
    ranked = ["a", "b", "c"]
    for metric in (recall_at, mrr_at, ndcg_at):
        assert metric(ranked, {"gold"}, 10) == 0.0
        assert metric([], {"gold"}, 10) == 0.0
        assert metric(["a", "gold"], {"gold"}, 1) == 0.0


def test_multi_gold_recall_is_fraction_found():
    ranked = ["g1", "x", "y", "g2"]
    gold = {"g1", "g2", "g3"}
    assert recall_at(ranked, gold, 1) == pytest.approx(1 / 3)
    assert recall_at(ranked, gold, 4) == pytest.approx(2 / 3)
    assert mrr_at(ranked, gold, 10) == 1.0


def test_multi_gold_ndcg():
    # gold at ranks 1 and 3 of two gold pages: DCG = 1 + 1/log2(4) = 1.5; IDCG = 1 + 1/log2(3)
    expected = 1.5 / (1 + 1 / math.log2(3))
    assert ndcg_at(["g1", "x", "g2"], {"g1", "g2"}, 10) == pytest.approx(expected)
    # ideal DCG is cut at k: three gold pages, k=2, both top-2 are gold -> perfect
    assert ndcg_at(["g1", "g2", "x"], {"g1", "g2", "g3"}, 2) == pytest.approx(1.0)


def test_duplicate_pages_count_once():
    # two chunks of the same wrong page must not push the gold page down or count twice
    assert mrr_at(["a", "a", "gold"], {"gold"}, 10) == pytest.approx(1 / 2)
    assert ndcg_at(["gold", "gold"], {"gold"}, 10) == pytest.approx(1.0)
    assert recall_at(["a", "a", "gold"], {"gold"}, 2) == 1.0


# ------------------------------------------------------------------------------------------------------ evaluate


QUESTIONS = [
    Question("q1", "what is power", ("p1",), "definition"),
    Question("q2", "who wrote leviathan", ("p2",), "definition"),
    Question("q3", "compare regimes", ("p3",), "comparison"),
    Question("q4", "unanswerable here", ("p4",), "comparison"),
]
RANKINGS = {
    "what is power": ["p1", "p9"],  # rank 1
    "who wrote leviathan": ["p9", "p2"],  # rank 2
    "compare regimes": ["p9", "p8", "p7", "p6", "p5", "p3"],  # rank 6
    "unanswerable here": ["p9"],  # missing
}


def fake_search(question: str) -> list[str]:
    return RANKINGS[question]


def test_evaluate_overall_metrics():
    report = evaluate(fake_search, QUESTIONS, retriever_name="fake")
    assert report.name == "fake"
    assert report.n == 4
    assert set(report.metrics) == METRICS
    assert report.metrics["recall@1"] == 0.25
    assert report.metrics["recall@5"] == 0.5
    assert report.metrics["recall@10"] == 0.75
    assert report.metrics["mrr@10"] == round((1 + 1 / 2 + 1 / 6 + 0) / 4, 4)
    ndcg = (1 + 1 / math.log2(3) + 1 / math.log2(7) + 0) / 4
    assert report.metrics["ndcg@10"] == round(ndcg, 4)
    assert all(type(v) is float for v in report.metrics.values())


def test_evaluate_by_kind_and_misses():
    report = evaluate(fake_search, QUESTIONS)
    assert report.name == "hybrid"
    assert set(report.by_kind) == {"definition", "comparison"}
    assert report.kind_n == {"definition": 2, "comparison": 2}
    assert report.by_kind["definition"]["recall@1"] == 0.5
    assert report.by_kind["definition"]["recall@5"] == 1.0
    assert report.by_kind["definition"]["mrr@10"] == 0.75
    assert report.by_kind["comparison"]["recall@5"] == 0.0
    assert report.by_kind["comparison"]["recall@10"] == 0.5
    assert [m["id"] for m in report.misses] == ["q2", "q3", "q4"]
    q2 = report.misses[0]
    assert (q2["question"], q2["gold"], q2["first"], q2["rank"]) == ("who wrote leviathan", "p2", "p9", 2)
    assert report.misses[2]["rank"] is None


def test_evaluate_curve_latency_and_custom_ks():
    report = evaluate(fake_search, QUESTIONS, ks=(1, 3))
    assert set(report.metrics) == {"recall@1", "recall@3", "mrr@3", "ndcg@3"}
    assert report.curve == {1: 0.25, 2: 0.5, 3: 0.5}
    full = evaluate(fake_search, QUESTIONS)
    assert list(full.curve) == list(range(1, 11))
    assert full.curve[6] == 0.75 and full.curve[5] == 0.5
    assert 0.0 <= full.p50_ms <= full.p95_ms


def test_evaluate_measures_search_latency():
    import time

    def slow(question: str) -> list[str]:
        time.sleep(0.01)
        return ["p1"]

    report = evaluate(slow, QUESTIONS[:2])
    assert report.p50_ms >= 9.0


def test_evaluate_rejects_empty_question_set():
    with pytest.raises(AtlasError, match="no questions"):
        evaluate(fake_search, [])


def test_question_gold_page_property():
    q = Question("q", "text?", ("a", "b"))
    assert q.gold_page == "a" and q.kind == ""
    # a lone string is one page id, not a tuple of characters
    assert Question("q", "text?", "m00002").gold_pages == ("m00002",)


# ------------------------------------------------------------------------------------------------------ output


def test_report_json_shape():
    a = evaluate(fake_search, QUESTIONS, retriever_name="hybrid")
    b = evaluate(lambda q: ["p1"], QUESTIONS, retriever_name="dense")
    out = report_json([a, b])
    assert out["n"] == 4
    assert list(out["retrievers"]) == ["hybrid", "dense"]
    entry = out["retrievers"]["hybrid"]
    assert set(entry) == METRICS | {"p50_ms", "p95_ms", "by_kind"}
    assert set(entry["by_kind"]) == {"definition", "comparison"}
    assert set(entry["by_kind"]["comparison"]) == METRICS
    assert out["retrievers"]["dense"]["recall@1"] == 0.25
    json.dumps(out)  # serialisable as is


def test_format_table():
    a = evaluate(fake_search, QUESTIONS, retriever_name="hybrid")
    b = evaluate(lambda q: ["p1"], QUESTIONS, retriever_name="bm25")
    text = format_table([a, b])
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("retriever"))
    for col in ("R@1", "R@5", "R@10", "MRR@10", "nDCG@10", "p50 ms"):
        assert col in header
    row = next(line for line in lines if line.startswith("hybrid "))
    mrr, ndcg = f"{a.metrics['mrr@10']:.4f}", f"{a.metrics['ndcg@10']:.4f}"
    assert row.split()[1:6] == ["0.2500", "0.5000", "0.7500", mrr, ndcg]
    bm25 = next(line for line in lines if line.startswith("bm25 "))
    assert len(row) == len(bm25)  # aligned columns
    assert any("hybrid / definition (n=2)" in line for line in lines)
    assert any("bm25 / comparison (n=2)" in line for line in lines)


def test_plot_recall_writes_png(tmp_path):
    pytest.importorskip("matplotlib")
    report = evaluate(fake_search, QUESTIONS)
    other = evaluate(lambda q: ["p1"], QUESTIONS, retriever_name="bm25")
    out = plot_recall([report, other], tmp_path / "plots" / "r.png")
    data = out.read_bytes()
    assert out == tmp_path / "plots" / "r.png"
    assert data.startswith(b"\x89PNG") and len(data) > 1000


def test_plot_recall_without_matplotlib(tmp_path, monkeypatch):
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(AtlasError, match="pip install matplotlib"):
        plot_recall([evaluate(fake_search, QUESTIONS)], tmp_path / "r.png")


# ------------------------------------------------------------------------------------------------------ loading


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
    qs = load_questions(Path(__file__).parent / "data" / "polisci_questions.jsonl")
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
