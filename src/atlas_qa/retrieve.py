"""Retrieval: dense (Chroma), lexical (BM25), their fusion, and page-level aggregation."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from .embedding import Embedder
from .index import Index
from .types import Passage

METHODS = ("hybrid", "rrf", "dense", "bm25")
RRF_K = 60


@dataclass(frozen=True)
class Retrieval:
    """Chunks best first, pages best first, and the best dense similarity (how close the corpus came at all)."""

    passages: tuple[Passage, ...]
    pages: tuple[tuple[str, float], ...]
    top_similarity: float


class Retriever:
    """Answers `search(question)` with one of the methods in `METHODS`; `hybrid` is ours and the default."""

    def __init__(self, index: Index, embedder: Embedder, fetch_k: int = 50) -> None:
        self.index = index
        self.embedder = embedder
        self.fetch_k = fetch_k

    def _dense(self, question: str) -> dict[str, float]:
        return dict(self.index.dense(self.embedder.embed(question), self.fetch_k))

    def _bm25(self, question: str) -> dict[str, float]:
        scores = self.index.lexical.scores(question)
        if not scores.size:
            return {}
        top = np.argsort(-scores)[: self.fetch_k]
        chunks = self.index.chunks
        return {chunks[i].id: float(scores[i]) for i in top if scores[i] > 0}

    def search(self, question: str, k: int = 5, method: str = "hybrid") -> Retrieval:
        if method not in METHODS:
            raise ValueError(f"unknown retriever {method!r}; choose one of {', '.join(METHODS)}")
        dense = self._dense(question) if method != "bm25" else {}
        lexical = self._bm25(question) if method != "dense" else {}
        if method == "dense":
            scores = dense
        elif method == "bm25":
            scores = lexical
        elif method == "rrf":
            scores = _rrf([dense, lexical])
        else:
            scores = _hybrid(dense, lexical)
        ranked = sorted(scores.items(), key=lambda kv: -kv[1])
        passages = tuple(Passage(self.index.chunk(cid), s) for cid, s in ranked)
        pages = _page_scores(passages, aggregate=method == "hybrid")
        top_sim = max(dense.values(), default=0.0)
        return Retrieval(passages=passages[:k] if k else passages, pages=pages, top_similarity=top_sim)


def _rrf(rankings: list[dict[str, float]], k: int = RRF_K) -> dict[str, float]:
    fused: dict[str, float] = defaultdict(float)
    for scores in rankings:
        for rank, (cid, _) in enumerate(sorted(scores.items(), key=lambda kv: -kv[1])):
            fused[cid] += 1.0 / (k + rank + 1)
    return dict(fused)


def _normalise(scores: dict[str, float]) -> dict[str, float]:
    if not scores:
        return {}
    values = np.fromiter(scores.values(), dtype=np.float64)
    lo, hi = float(values.min()), float(values.max())
    span = hi - lo or 1.0
    return {cid: (s - lo) / span for cid, s in scores.items()}


def _hybrid(dense: dict[str, float], lexical: dict[str, float], dense_weight: float = 0.6) -> dict[str, float]:
    """Convex combination of min-max normalised scores; a chunk missing from one side scores 0 there."""
    d, b = _normalise(dense), _normalise(lexical)
    return {cid: dense_weight * d.get(cid, 0.0) + (1 - dense_weight) * b.get(cid, 0.0) for cid in set(d) | set(b)}


def _page_scores(passages: tuple[Passage, ...], aggregate: bool) -> tuple[tuple[str, float], ...]:
    """A page's score: its best chunk's, plus (when aggregating) a decaying share of its next best chunks."""
    per_page: dict[str, list[float]] = defaultdict(list)
    for p in passages:
        per_page[p.chunk.page_id].append(p.score)
    scored = {}
    for page, scores in per_page.items():
        scores.sort(reverse=True)
        scored[page] = scores[0] + (sum(s * 0.5 ** (i + 1) for i, s in enumerate(scores[1:4])) * 0.3 if aggregate else 0.0)
    return tuple(sorted(scored.items(), key=lambda kv: -kv[1]))
