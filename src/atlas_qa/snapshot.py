"""One version of a course's index as a question reads it: its chunks, page records, BM25 and page signals."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import replace
from functools import cached_property
from typing import Any

import numpy as np

from .lexical import LexicalIndex, PageTerms
from .store.records import FACETS
from .types import ELSEWHERE, Chunk, Document, Reference


class Snapshot:
    """One generation of an index as read from Chroma: its visible chunks (by page, then position) and page records.
    Never changed once built; BM25, the page signals and page documents are built or fetched on first use.

    `fetch_document(page_id)` reads a page's Document from the store (this generation's record of it); `vectors`,
    one unit row per chunk in the order of `chunks`, when the snapshot is to search them itself (`nearest`).
    """

    def __init__(
        self,
        generation: int,
        chunks: list[Chunk],
        records: dict[str, dict[str, Any]],
        fetch_document: Callable[[str], Document],
        vectors: np.ndarray | None = None,
    ) -> None:
        self.generation = generation
        order = sorted(range(len(chunks)), key=lambda i: (chunks[i].page_id, chunks[i].position))
        self.chunks = [chunks[i] for i in order]
        self.vectors = vectors[order] if vectors is not None and len(chunks) else None
        self.positions = {c.id: i for i, c in enumerate(self.chunks)}
        self.records = records
        self.page_ids = list(dict.fromkeys(c.page_id for c in self.chunks))
        where = {p: i for i, p in enumerate(self.page_ids)}
        self.page_of = {c.id: where[c.page_id] for c in self.chunks}  # chunk id -> its page's place in page_ids
        self._fetch_document = fetch_document
        self._stored: dict[str, Document] = {}
        self._docs: dict[str, Document] = {}

    def chunk(self, chunk_id: str) -> Chunk:
        return self.chunks[self.positions[chunk_id]]

    def nearest(self, queries: np.ndarray, n: int, pages: set[str] | None = None) -> list[list[tuple[str, float]]]:
        """For each query (a unit row), exactly its `n` most similar chunks (among `pages`' when given), best first
        (ties in page order): (chunk id, cosine). Needs `vectors`."""
        assert self.vectors is not None, "a snapshot without vectors cannot search them"
        sims = queries.astype(np.float32) @ self.vectors.T
        rows = np.arange(len(self.chunks))
        if pages is not None:
            rows = rows[np.fromiter((c.page_id in pages for c in self.chunks), dtype=bool, count=len(self.chunks))]
        out = []
        for sim in sims[:, rows]:
            k = min(n, sim.size)
            top = np.argpartition(-sim, k - 1)[:k] if k < sim.size else np.arange(sim.size)
            top = top[np.lexsort((top, -sim[top]))]
            out.append([(self.chunks[rows[i]].id, float(sim[i])) for i in top])
        return out

    def document(self, page_id: str) -> Document:
        """The page as indexed, with the reference-list entries of the other pages of its chapter after its own: a
        book may list a chapter's references on one of its pages, and the other pages' citations resolve there."""
        if page_id not in self._docs:
            doc = self._stored_document(page_id)
            chapter = doc.metadata.get("chapter", "")
            elsewhere = tuple(
                r
                for r in (self._chapter_references.get(chapter, ()) if chapter else ())
                if not r.key.startswith(f"{ELSEWHERE}{page_id}:")
            )
            self._docs[page_id] = replace(doc, references=doc.references + elsewhere) if elsewhere else doc
        return self._docs[page_id]

    def _stored_document(self, page_id: str) -> Document:
        if page_id not in self._stored:
            self._stored[page_id] = self._fetch_document(page_id)
        return self._stored[page_id]

    @cached_property
    def _chapter_references(self) -> dict[str, tuple[Reference, ...]]:
        """Chapter -> the reference-list entries of its pages, keyed `ELSEWHERE` + "page_id:key"."""
        out: dict[str, list[Reference]] = defaultdict(list)
        for pid in self.page_ids:
            doc = self._stored_document(pid)
            if chapter := doc.metadata.get("chapter", ""):
                out[chapter] += [
                    replace(r, key=f"{ELSEWHERE}{pid}:{r.key}") for r in doc.own_references if not r.key.startswith("^")
                ]
        return {chapter: tuple(refs) for chapter, refs in out.items() if refs}

    @cached_property
    def _page_chunks(self) -> Counter[str]:
        return Counter(c.page_id for c in self.chunks)

    def chunk_count(self, pages: set[str] | None = None) -> int:
        """How many chunks these pages hold (default: every page)."""
        return len(self.chunks) if pages is None else sum(self._page_chunks.get(p, 0) for p in pages)

    @cached_property
    def lexical(self) -> LexicalIndex:
        return LexicalIndex([c.embed_text for c in self.chunks])

    @cached_property
    def page_terms(self) -> PageTerms:
        docs = [self.document(p) for p in self.page_ids]
        return PageTerms([(d.title, d.key_terms) for d in docs])

    def pages(self) -> list[dict[str, Any]]:
        """Every indexed page: id, title, source, chunk count and when it was indexed."""
        return [
            {
                "page_id": pid,
                "title": self.document(pid).title,
                "source": meta.get("source", ""),
                "chunks": int(meta.get("n_chunks", 0)),
                "indexed_at": float(meta.get("indexed_at", 0.0)),
            }
            for pid, meta in sorted(self.records.items())
        ]

    def facets(self) -> dict[str, list[str]]:
        """The values of each filterable page field (course, topic, chapter) that some page has."""
        values: dict[str, set[str]] = {f: set() for f in FACETS}
        for pid in self.page_ids:
            meta = self.document(pid).metadata
            for f in FACETS:
                if meta.get(f):
                    values[f].add(meta[f])
        return {f: sorted(v) for f, v in values.items() if v}

    def pages_matching(self, filters: dict[str, str]) -> set[str]:
        """Ids of the pages whose metadata has every given value."""
        return {
            pid for pid in self.page_ids if all(self.document(pid).metadata.get(k) == v for k, v in filters.items())
        }
