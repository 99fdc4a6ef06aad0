"""A question set and a fake retriever with known rankings, shared by the evaluation tests."""

from __future__ import annotations

from atlas_qa.evaluate import Question

METRICS = {"recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10"}


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
