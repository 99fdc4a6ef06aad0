"""The library API that the CLI, the app and evaluation share: ingest a corpus, ask a question."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from .answer import compose, rank_sentences, supporting_works
from .config import Settings
from .embedding import Embedder, embedder_for
from .errors import AtlasError, IndexNotFoundError, QuestionError
from .index import Index, IngestReport
from .loaders import load_corpus
from .retrieve import Retrieval, Retriever
from .types import Answer, Cite, Document

MAX_QUESTION_CHARS = 1000


def check_question(question: str) -> str:
    """The question, trimmed; a clear error when it is empty, has no words, or is too long."""
    question = question.strip()
    if not question:
        raise QuestionError("Please type a question.")
    if len(question) > MAX_QUESTION_CHARS:
        raise QuestionError(f"The question is {len(question):,} characters long; the limit is {MAX_QUESTION_CHARS:,}.")
    if not re.search(r"\w", question):
        raise QuestionError("The question has no words in it.")
    return question


class Atlas:
    """One course's index with its model: `ingest` and `ask`. Nothing heavy loads until first use."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.embedder = embedder or embedder_for(settings)
        self.index = Index(settings, self.embedder)
        self.retriever = Retriever(self.index, self.embedder, settings.fetch_k)

    def ingest(
        self,
        paths: Sequence[Path] | None = None,
        progress: bool | Callable[[int, int], None] = False,
        rebuild: bool = False,
    ) -> IngestReport:
        """Load the corpus folders (default: the configured corpus) and sync the index with them.

        `progress`: True for a progress bar on stderr, or a callback(done, total) over the chunks to embed.
        `rebuild`: build the index anew beside the old one and switch to it when complete (`Index.sync`).
        """
        loaded = load_corpus(list(paths) if paths else [self.settings.corpus])
        return self.index.sync(loaded, progress=progress, rebuild=rebuild)

    def drop(self) -> None:
        """Delete this course's index."""
        self.index.drop()

    def search(
        self, question: str, k: int | None = None, method: str = "hybrid", filters: dict[str, str] | None = None
    ) -> Retrieval:
        return self.retriever.search(check_question(question), k or self.settings.k, method, filters)

    def facets(self) -> dict[str, list[str]]:
        """Filter values the pages offer: {"course": [...], "topic": [...], "chapter": [...]}."""
        return self.index.facets()

    def ask(
        self,
        question: str,
        k: int | None = None,
        filters: dict[str, str] | None = None,
        dense_hits: list[tuple[str, float]] | None = None,
    ) -> Answer:
        """Retrieve, compose a cited answer, verify it; refuse when the course does not cover the question.

        `dense_hits`: the question's nearest chunks, when `ask_batch` fetched them with others'.
        """
        question = check_question(question)
        self.index.check_version()
        if self.index.count() == 0:
            raise IndexNotFoundError(
                f"The index in {self.settings.index_dir} is empty: run `atlas-qa ingest` (or `make run`) first."
            )
        retrieval = self.retriever.search(question, k or self.settings.k, filters=filters, dense_hits=dense_hits)
        answer = compose(question, retrieval, self._docs(retrieval), self.settings.refuse_below, self.index.lexical.idf)
        if self.settings.llm_base_url:
            from .generate import LLMConfig, generate

            s = self.settings
            config = LLMConfig(s.llm_base_url, s.llm_model, s.llm_api_key, s.llm_context_tokens)
            answer, _ = generate(question, answer, config)
        return answer

    def ask_batch(
        self, questions: Sequence[str], filters: Sequence[dict[str, str] | None] | None = None
    ) -> list[Answer | AtlasError]:
        """Answer several questions at once, encoding them in one batch (the server batches concurrent requests).

        Each item is the answer, or the error that question alone raised.
        """
        filters = list(filters) if filters is not None else [None] * len(questions)
        valid: dict[int, str] = {}
        out: list[Answer | AtlasError] = []
        for i, q in enumerate(questions):
            try:
                valid[i] = check_question(q)
                out.append(AtlasError("not answered"))
            except AtlasError as exc:
                out.append(exc)
        vectors = self.embedder.embed_batch(list(valid.values())) if valid else []
        groups: dict[str, list[int]] = {}  # questions with the same filters share one Chroma query
        for row, i in enumerate(valid):
            groups.setdefault(json.dumps(filters[i] or {}, sort_keys=True), []).append(row)
        hits: dict[int, list[tuple[str, float]]] = {}
        keys = list(valid)
        for key, rows in groups.items():
            found = self.index.dense_many([vectors[r] for r in rows], self.settings.fetch_k, json.loads(key) or None)
            hits.update({keys[r]: h for r, h in zip(rows, found)})
        for i, q in valid.items():
            try:
                out[i] = self.ask(q, filters=filters[i], dense_hits=hits[i])
            except AtlasError as exc:
                out[i] = exc
        return out

    def attribute(self, claim: str, k: int | None = None) -> list[Cite]:
        """The works that support a claim, best first (footnotes or references of the sentences that state it)."""
        claim = check_question(claim)
        retrieval = self.retriever.search(claim, k or self.settings.k)
        docs = self._docs(retrieval)
        ranked = rank_sentences(claim, retrieval.passages, docs, self.index.lexical.idf)
        return supporting_works(ranked, docs, retrieval.passages)

    def _docs(self, retrieval: Retrieval) -> dict[str, Document]:
        return {p.chunk.page_id: self.index.document(p.chunk.page_id) for p in retrieval.passages}
