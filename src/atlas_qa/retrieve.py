"""Retrieval: dense (Chroma), lexical (BM25), the reference fusions, and our page-level `hybrid`.

`hybrid` scores pages, not chunks. Three signals are standardised (z-score over the course's pages) so no scale
dominates:

- dense: the page's best chunk similarity among Chroma's `fetch_k` nearest chunks;
- bm25: the page's best chunk BM25 score (chunks carry their page title and section path);
- agree: the page's best chunk by reciprocal-rank fusion of the two sides: one passage that both rank high
  outweighs a page whose best dense and best BM25 chunks are different passages.

bm25 and agree count in proportion to the share of the question's word weight that the course uses: BM25 cannot
see a misspelled word or a name the course never uses, and such a word is usually the telling one.

Two are shares of the question (0 to 1, not standardised: 0 for most pages, so a z-score would blow one match up):

- fields: the share of the question's word weight (idf) found in the page's title and key terms;
- defines: the share of the question's words covered by a term the page defines.

A page outside a side's candidates gets that side's lowest candidate score, or 0 for BM25 when it returned every
chunk with a word of the question (fewer than `fetch_k`: a rare term's one chunk then stands out). Chunks are then
ranked by their page's score plus their own standardised dense and BM25 scores, so passages come from the best pages
first.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from .embedding import Embedder
from .snapshot import Snapshot
from .store.index import Index
from .types import Passage

METHODS = ("hybrid", "rrf", "dense", "bm25")
RRF_K = 60
COVERAGE_WEIGHT = 0.2
BREADTH_WEIGHT = 1.0
BREADTH_SHARE = 20  # breadth averages the nearest 1/20 of the course's chunks (at least 5, at most 100)
WEIGHTS = {"dense": 0.25, "bm25": 0.25, "agree": 0.5, "fields": 1.0, "defines": 1.0}
PASSAGE_WEIGHTS = {"dense": 0.5, "bm25": 0.5}  # a chunk's own standardised scores, added to its page's


@dataclass(frozen=True)
class Retrieval:
    """Chunks best first, pages best first, and how close the corpus came at all.

    `relevance` = best dense similarity + 0.2 x the share of the question's words the course uses + `breadth`, the
    mean similarity of the course's nearest chunks (`breadth_k`): a question the course is about is near many of its
    passages, a general one only near the passage that shares its words. `ask` refuses below a threshold calibrated
    on in-scope and out-of-scope questions of six books (docs/answers.md, "Refusal across books").
    """

    passages: tuple[Passage, ...]
    pages: tuple[tuple[str, float], ...]
    top_similarity: float
    coverage: float = 1.0
    breadth: float = 0.0

    @property
    def relevance(self) -> float:
        return self.top_similarity + COVERAGE_WEIGHT * self.coverage + BREADTH_WEIGHT * self.breadth


def breadth_k(chunks: int) -> int:
    """How many nearest chunks `breadth` averages for a course of `chunks` chunks: a fixed share of the course, so
    the same threshold holds for a few pages and for a whole textbook (docs/answers.md, "Refusal across books")."""
    return max(5, min(100, chunks // BREADTH_SHARE))


def breadth(similarities: Iterable[float], chunks: int) -> float:
    """Mean of the `breadth_k(chunks)` highest dense similarities (of those given, which may be fewer)."""
    best = sorted(similarities, reverse=True)[: breadth_k(chunks)]
    return sum(best) / len(best) if best else 0.0


class Retriever:
    """Answers `search(question)` with one of `METHODS`; `hybrid` is ours and the default."""

    def __init__(
        self, index: Index, embedder: Embedder, fetch_k: int = 100, embed: Callable[[str], np.ndarray] | None = None
    ) -> None:
        self.index = index
        self.embedder = embedder
        self.fetch_k = fetch_k
        self.embed = embed or embedder.embed  # the question's vector (the Atlas passes its cache, which the log reuses)

    def _bm25(self, question: str, allowed: set[str] | None, view: Snapshot) -> dict[str, float]:
        scores = view.lexical.scores(question)
        if not scores.size:
            return {}
        if allowed is not None:
            scores = scores * np.fromiter((c.page_id in allowed for c in view.chunks), dtype=np.float32)
        top = np.argpartition(-scores, min(self.fetch_k, scores.size - 1))[: self.fetch_k]
        return {view.chunks[i].id: float(scores[i]) for i in top if scores[i] > 0}

    def search(
        self,
        question: str,
        k: int = 5,
        method: str = "hybrid",
        filters: dict[str, str] | None = None,
        dense_hits: list[tuple[str, float]] | None = None,
        view: Snapshot | None = None,
    ) -> Retrieval:
        """Rank chunks and pages for a question; `filters` keeps pages whose course/topic/chapter match;
        `dense_hits` are the question's nearest chunks when the caller fetched them already (batched requests);
        `view`: the version of the index to read (default: the current one), the one the caller reads too."""
        if method not in METHODS:
            raise ValueError(f"unknown retriever {method!r}; choose one of {', '.join(METHODS)}")
        filters = {k: v for k, v in (filters or {}).items() if v} or None
        view = view or self.index.snapshot()
        allowed = view.pages_matching(filters) if filters else None
        if allowed is not None and not allowed:
            return Retrieval(passages=(), pages=(), top_similarity=0.0, coverage=0.0)
        if method == "bm25":
            dense: dict[str, float] = {}
        else:
            hits = dense_hits if dense_hits is not None else self._dense(question, filters, view)
            dense = {cid: s for cid, s in hits if cid in view.positions}  # hits fetched earlier may name gone chunks
        lexical = self._bm25(question, allowed, view) if method != "dense" else {}
        if method == "hybrid":
            chunk_scores, pages = self._hybrid(question, dense, lexical, allowed, view)
        else:
            chunk_scores = dense if method == "dense" else lexical if method == "bm25" else _rrf([dense, lexical])
            pages = _best_chunk_per_page(chunk_scores, view)
        ranked = sorted(chunk_scores.items(), key=lambda kv: -kv[1])[:k]
        passages = tuple(Passage(view.chunk(cid), score) for cid, score in ranked)
        return Retrieval(
            passages=passages,
            pages=pages,
            top_similarity=max(dense.values(), default=0.0),
            coverage=view.lexical.coverage(question),
            breadth=breadth(dense.values(), view.chunk_count(allowed)),
        )

    def _dense(self, question: str, filters: dict[str, str] | None, view: Snapshot) -> list[tuple[str, float]]:
        return self.index.dense(self.embed(question), self.fetch_k, filters, view)

    def page_signals(
        self, question: str, dense_hits: list[tuple[str, float]] | None = None, view: Snapshot | None = None
    ) -> dict[str, np.ndarray]:
        """`hybrid`'s page signals for a question, one value per page of `view` (`view.page_ids` order), each as it
        enters the page score (bm25 and agree already scaled by the question's known weight); for measuring and
        fitting the weights (benchmarks/books.py), not on the question path."""
        view = view or self.index.snapshot()
        hits = dense_hits if dense_hits is not None else self._dense(question, None, view)
        dense = {cid: s for cid, s in hits if cid in view.positions}
        lexical = self._bm25(question, None, view)
        return page_signals(question, dense, lexical, view, lexical_floor=self._lexical_floor(lexical))

    def _lexical_floor(self, lexical: dict[str, float]) -> float | None:
        """What a chunk BM25 did not return scores: 0 when it returned every chunk with a word of the question (fewer
        than `fetch_k`), else unknown (None: at most the lowest returned)."""
        return 0.0 if len(lexical) < self.fetch_k else None

    def _hybrid(
        self,
        question: str,
        dense: dict[str, float],
        lexical: dict[str, float],
        allowed: set[str] | None,
        view: Snapshot,
    ) -> tuple[dict[str, float], tuple[tuple[str, float], ...]]:
        floor = self._lexical_floor(lexical)
        page_score = combine(page_signals(question, dense, lexical, view, lexical_floor=floor))
        d_chunk, b_chunk = _z_dict(dense, set(lexical)), _z_dict(lexical, set(dense), floor)
        chunk_scores = {
            cid: float(page_score[view.page_of[cid]])
            + PASSAGE_WEIGHTS["dense"] * d_chunk[cid]
            + PASSAGE_WEIGHTS["bm25"] * b_chunk[cid]
            for cid in d_chunk
        }
        order = np.argsort(-page_score, kind="stable")
        pages = tuple((view.page_ids[i], float(page_score[i])) for i in order)
        if allowed is not None:
            pages = tuple(p for p in pages if p[0] in allowed)
        return chunk_scores, pages


def page_signals(
    question: str,
    dense: dict[str, float],
    lexical: dict[str, float],
    view: Snapshot,
    lexical_floor: float | None = None,
) -> dict[str, np.ndarray]:
    """The signals `hybrid` weighs, per page (see the module's docstring); keys are those of `WEIGHTS`.
    `lexical_floor`: the BM25 score of a page with no returned chunk, when known (0: BM25 returned every chunk that
    has a word of the question; a rare term's one chunk then stands out instead of being the floor itself)."""
    terms = view.page_terms
    trust = view.lexical.known_weight(question)  # BM25 cannot see a typo or a word the course never uses
    return {
        "dense": _z(_page_max(dense, view)),
        "bm25": trust * _z(_page_max(lexical, view, lexical_floor)),
        "agree": trust * _z(_page_max(_rrf([dense, lexical]), view)),
        "fields": terms.covers(question, view.lexical.idf),
        "defines": terms.defines(question),
    }


def combine(signals: dict[str, np.ndarray], weights: dict[str, float] = WEIGHTS) -> np.ndarray:
    """The page score: the signals weighted by `weights` and summed."""
    return sum(weights[name] * values for name, values in signals.items())  # type: ignore[return-value]


def _z(values: np.ndarray) -> np.ndarray:
    sd = float(values.std())
    return (values - values.mean()) / sd if sd > 0 else np.zeros_like(values)


def _z_dict(scores: dict[str, float], also: set[str], floor: float | None = None) -> dict[str, float]:
    """Standardise one side's candidate scores; ids only the other side found get this side's floor (by default its
    lowest score; a known floor, 0 for BM25's unreturned chunks, counts among the values)."""
    if not scores:
        return {cid: 0.0 for cid in also}
    values = np.fromiter(scores.values(), dtype=np.float64)
    if floor is not None and also - set(scores):
        values = np.append(values, floor)
    floor = values.min() if floor is None else floor
    mean, sd = values.mean(), values.std() or 1.0
    return {cid: (scores.get(cid, floor) - mean) / sd for cid in set(scores) | also}


def _page_max(scores: dict[str, float], view: Snapshot, floor: float | None = None) -> np.ndarray:
    """Each page's best candidate chunk score; pages without a candidate get `floor` (default: the lowest candidate
    score)."""
    out = np.full(len(view.page_ids), min(scores.values(), default=0.0) if floor is None else floor, dtype=np.float64)
    if scores:
        np.maximum.at(out, [view.page_of[cid] for cid in scores], np.fromiter(scores.values(), dtype=np.float64))
    return out


def _rrf(rankings: list[dict[str, float]], k: int = RRF_K) -> dict[str, float]:
    fused: dict[str, float] = defaultdict(float)
    for scores in rankings:
        for rank, (cid, _) in enumerate(sorted(scores.items(), key=lambda kv: -kv[1])):
            fused[cid] += 1.0 / (k + rank + 1)
    return dict(fused)


def _best_chunk_per_page(scores: dict[str, float], view: Snapshot) -> tuple[tuple[str, float], ...]:
    best: dict[str, float] = {}
    for cid, s in scores.items():
        page = view.chunk(cid).page_id
        best[page] = max(best.get(page, s), s)
    return tuple(sorted(best.items(), key=lambda kv: -kv[1]))
