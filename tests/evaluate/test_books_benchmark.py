"""benchmarks/books.py's pure parts on hand-computed cases: hybrid's rank metrics from saved signals, the refusal
share, and the leave-one-book-out threshold rule."""

import numpy as np
import pytest

from benchmarks.books import _rank_metrics, _refused, _threshold


def test_rank_metrics_from_signals_and_weights():
    # 2 questions, 2 signals, 3 pages; question 1's gold page is 0, question 2's is 2.
    signals = np.array([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], [[0.0, 1.0, 0.5], [0.0, 0.0, 2.0]]])
    gold = np.array([[True, False, False], [False, False, True]])
    assert _rank_metrics(signals, gold, np.array([1.0, 0.0])) == {"recall@1": 0.5, "mrr@10": 0.75}
    # q1 scores (1, 1, 0): the gold page ties with page 1 and comes first, as hybrid's stable sort puts it.
    assert _rank_metrics(signals, gold, np.array([1.0, 1.0])) == {"recall@1": 1.0, "mrr@10": 1.0}
    # q1 scores (0, 1, 0): page 1 ahead, page 2 ties with the gold page but comes after it: rank 2.
    assert _rank_metrics(signals, gold, np.array([0.0, 1.0])) == {"recall@1": 0.5, "mrr@10": 0.75}
    # q2 with the gold page tied behind an earlier page: scores (0, 1, 1) -> rank 2.
    tied = np.array([[[0.0, 1.0, 1.0]]])
    assert _rank_metrics(tied, np.array([[False, False, True]]), np.array([1.0])) == {"recall@1": 0.0, "mrr@10": 0.5}
    assert _rank_metrics(signals, gold, np.array([1.0, 0.5])) == {"recall@1": 1.0, "mrr@10": 1.0}


def _rows(values, exempt=()):
    return [{"relevance": v, "exempt": i in exempt} for i, v in enumerate(values)]


def test_refused_share_leaves_exempt_questions_answered():
    rows = _rows([0.3, 0.45, 0.6, 0.2], exempt={3})
    assert _refused(rows, 0.5) == 0.5  # 0.3 and 0.45; 0.2 is exempt
    assert _refused([], 0.5) == 0.0


def test_threshold_is_the_highest_that_keeps_every_book_within_the_limit():
    # Book a refuses its lowest of 100 questions only above 0.41 (1 %); book b's two lowest of 100 lie at 0.45 and
    # 0.47, so b allows 0.47 (1 refusal): the threshold is the highest value both allow, 0.47.
    a = _rows([0.41] + [0.9] * 99)
    b = _rows([0.45, 0.47] + [0.9] * 98)
    assert _threshold({"a": a, "b": b}) == pytest.approx(0.47)
    assert _threshold({"a": a}) == pytest.approx(0.9)  # one refusal in 100 is allowed: 0.41 refused, 0.9 not


def test_the_shipped_threshold_is_the_one_chosen_on_the_six_books():
    # docs/answers.md, "Refusal across books": the highest threshold (rounded down) that refuses at most 1 % of
    # every book's in-scope questions, chosen on all six books (0.7595 with exact search, 0.751 with Chroma's HNSW
    # search, both with the breadth in the relevance; 0.526 without it, 0.5 chosen on polisci alone).
    from atlas_qa.config import Settings

    assert Settings().refuse_below == 0.75
