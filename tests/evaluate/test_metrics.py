"""Evaluation metrics (evaluate/metrics.py): hand-computed recall, MRR and nDCG; the evaluate() loop with a fake retriever."""

from __future__ import annotations

import math

import pytest

from atlas_qa.errors import AtlasError
from atlas_qa.evaluate import (
    Question,
    evaluate,
    mrr_at,
    ndcg_at,
    recall_at,
)

from .fakes import METRICS, QUESTIONS, fake_search


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
