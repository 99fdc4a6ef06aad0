"""The library API that the CLI, the app and evaluation share: ingest a corpus, ask a question."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from .answer import compose, rank_sentences, respell, supporting_works
from .config import Settings
from .conversation import History, rewrite
from .embedding import Embedder, VectorCache, embedder_for
from .errors import AtlasError, IndexNotFoundError, QuestionError, StoreUnavailableError
from .ingest import IngestReport, sync
from .loaders import load_corpus
from .retrieve import Retrieval, Retriever
from .snapshot import Snapshot
from .store.index import Index
from .store.records import FACETS
from .types import Answer, Citation, Cite, Document

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 1000


def check_question(question: object) -> str:
    """The question, trimmed; a clear error when it is not text, is empty, has no words, or is too long."""
    question = check_text(question, "The question")
    question = question.strip()
    if not question:
        raise QuestionError("Please type a question.")
    if len(question) > MAX_QUESTION_CHARS:
        raise QuestionError(f"The question is {len(question):,} characters long; the limit is {MAX_QUESTION_CHARS:,}.")
    if not re.search(r"\w", question):
        raise QuestionError("The question has no words in it.")
    return question


def check_text(value: object, what: str) -> str:
    """`value` when it is text that can be written as UTF-8; else a clear error naming `what`.

    Requests come from JSON, which can carry numbers, lists or a lone UTF-16 surrogate ("\\ud800") where text belongs.
    """
    if not isinstance(value, str):
        raise QuestionError(f"{what} must be text, not {_kind(value)}.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise QuestionError(f"{what} holds a character that is not valid Unicode text (a lone surrogate).") from None
    return value


def check_filters(filters: object) -> dict[str, str] | None:
    """Filters as `ask` takes them: {field: value} with text only, fields among `FACETS`, empty values dropped (an
    edge's "any"); None when none is left. A clear error otherwise. The one filter rule of every way in."""
    if filters is None:
        return None
    if not isinstance(filters, dict):
        raise QuestionError(f"The filters must be a mapping of field to value, not {_kind(filters)}.")
    checked = {check_text(k, "A filter name"): check_text(v, f"The filter {k!r}") for k, v in filters.items()}
    if set(checked) - set(FACETS):
        raise QuestionError(f"Filters may only be {', '.join(FACETS)}.")
    return {k: v for k, v in checked.items() if v} or None


def standalone(question: str, history: History | None, title: Callable[[str], str] | None = None) -> str:
    """What to search for: the follow-up rewritten with the conversation (the question itself if that is too long);
    `title`: a page's title from its id."""
    searched = rewrite(question, history, title) if history else question
    return searched if len(searched) <= MAX_QUESTION_CHARS else question


def _with_offsets(answer: Answer, retrieval: Retrieval) -> tuple[Citation, ...]:
    """The answer's citations, each with where its passage starts in its page (the passage's chunk knows)."""
    starts = {(p.chunk.page_id, p.chunk.text): p.chunk.start for p in retrieval.passages}
    return tuple(replace(c, offset=starts.get((c.page_id, c.text), c.offset)) for c in answer.citations)


def _kind(value: object) -> str:
    return {bool: "true/false", int: "a number", float: "a number", list: "a list", dict: "an object"}.get(
        type(value), "null" if value is None else f"a {type(value).__name__}"
    )


class Atlas:
    """One course's index with its model: `ingest` and `ask`. Nothing heavy loads until first use."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.embedder = embedder or embedder_for(settings)
        self.index = Index(settings, self.embedder)
        self.sentence_vectors = VectorCache(self.embedder)  # answer sentences and questions (the log reuses them)
        self.retriever = Retriever(self.index, self.embedder, settings.fetch_k, self.question_vector)

    def question_vector(self, text: str) -> np.ndarray:
        """The vector of a searched question, encoded once (retrieval and the question log share it)."""
        return self.sentence_vectors([text])[0]

    def ingest(
        self,
        paths: Sequence[Path] | None = None,
        progress: bool | Callable[[int, int], None] = False,
        rebuild: bool = False,
    ) -> IngestReport:
        """Load the corpus folders (default: the configured corpus) and sync the index with them.

        `progress`: True for a progress bar on stderr, or a callback(done, total) over the chunks to embed.
        `rebuild`: build the index anew beside the old one and switch to it when complete (`ingest.sync`).
        """
        loaded = load_corpus(list(paths) if paths else [self.settings.corpus], self.settings.max_page_chars)
        return sync(self.index, loaded, progress=progress, rebuild=rebuild)

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

    # What the edges (the app, the API, the question log) read of the index: they never reach `self.index`.
    def pages(self) -> list[dict[str, Any]]:
        """Every indexed page: id, title, source, chunk count and when it was indexed."""
        return self.index.pages()

    def document(self, page_id: str) -> Document:
        """The indexed page `page_id` (AtlasError when there is none)."""
        return self.index.document(page_id)

    def view(self) -> Snapshot:
        """The index as it is now: one version (its `generation`), to read several things from consistently."""
        return self.index.snapshot()

    def in_course_words(self, question: str, view: Snapshot | None = None) -> str:
        """`question` with a word the course never uses put right (`answer.spelling.respell`; a word the model knows
        whole stays): how `ask` retries a question it would refuse, and how reviewed and asked questions are compared
        (a slip of the keyboard moves a question's vector far). `view`: the index version to read (default: now)."""
        lexical = (view or self.index.snapshot()).lexical
        return respell(question, lexical.idf, lexical.words, self.embedder.knows)

    def page_hash(self, page_id: str) -> str | None:
        """A digest of the page's text as indexed now (None when the course has no such page): a reviewed answer whose
        pages' texts changed is stale."""
        try:
            text = self.document(page_id).text
        except (AtlasError, KeyError):
            return None
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()

    def last_ingest(self) -> dict[str, Any] | None:
        """The summary of the last ingest (counts, skipped files with reasons, `finished_at`), if any."""
        return self.index.last_ingest()

    def ask(
        self,
        question: object,
        k: int | None = None,
        filters: object = None,
        history: History | None = None,
    ) -> Answer:
        """Retrieve, compose a cited answer, verify it; refuse when the course does not cover the question.

        The question and the filters are checked here (`check_question`, `check_filters`: QuestionError), once.
        `history`: the conversation's previous turns, oldest first (`conversation.Turn`s or (question, Answer | None)
        pairs); a follow-up that cannot stand alone is rewritten with it, and `Answer.searched` says what was searched.
        """
        return self._answer(check_question(question), k, check_filters(filters), history=history)

    def _answer(
        self,
        question: str,
        k: int | None = None,
        filters: dict[str, str] | None = None,
        dense_hits: list[tuple[str, float]] | None = None,
        history: History | None = None,
        searched: str | None = None,
    ) -> Answer:
        """`ask` for a question and filters already checked; `dense_hits`: the searched question's nearest chunks and
        `searched` the question made to stand alone, when `ask_batch` did that with others'."""
        with self._store_errors():  # a Chroma server that stopped answering: one sentence, not a traceback
            self.index.check_version()
            view = self.index.snapshot()  # the one version of the index this question reads
            if searched is None:
                searched = standalone(question, history, lambda page_id: self._title(page_id, view))
            if not view.chunks:
                raise IndexNotFoundError(
                    f"The index in {self.settings.index_dir} is empty: run `atlas-qa ingest` (or `make run`) first."
                )
            retrieval = self.retriever.search(
                searched, k or self.settings.k, filters=filters, dense_hits=dense_hits, view=view
            )
            if retrieval.relevance < self.settings.refuse_below:  # about to refuse: a misspelling ("red corss")?
                respelled = self.in_course_words(searched, view)
                if respelled != searched:
                    again = self.retriever.search(respelled, k or self.settings.k, filters=filters, view=view)
                    if again.relevance > retrieval.relevance:
                        searched, retrieval = respelled, again
            answer = compose(
                searched,
                retrieval,
                self._docs(retrieval, view),
                self.settings.refuse_below,
                view.lexical.idf,
                embed=self.sentence_vectors,
            )
        if self.settings.llm_base_url:
            from .generate import LLMConfig, generate

            s = self.settings
            config = LLMConfig(s.llm_base_url, s.llm_model, s.llm_api_key, s.llm_context_tokens)
            answer, _ = generate(searched, answer, config)
        return replace(answer, question=question, searched=searched, citations=_with_offsets(answer, retrieval))

    def ask_batch(
        self,
        questions: Sequence[object],
        filters: Sequence[object] | None = None,
        histories: Sequence[History | None] | None = None,
    ) -> list[Answer | AtlasError]:
        """Answer several questions at once, encoding them in one batch (the server batches concurrent requests).

        `histories`: each question's conversation so far (as `ask` takes it), or None. Each item is the answer, or the
        error that question alone raised: a question that is not text, holds a lone surrogate or has bad filters is
        refused (`QuestionError`) without touching the others; a store that cannot be reached fails only the
        questions that needed it (`StoreUnavailableError`).
        """
        filters = list(filters or [])
        filters += [None] * (len(questions) - len(filters))
        histories = list(histories or [])
        histories += [None] * (len(questions) - len(histories))
        out: list[Answer | AtlasError] = []
        valid: dict[int, tuple[str, dict[str, str] | None]] = {}
        for i, (q, f) in enumerate(zip(questions, filters)):
            try:
                valid[i] = (check_question(q), check_filters(f))
                out.append(AtlasError("not answered"))
            except AtlasError as exc:
                out.append(exc)
        vectors: dict[int, np.ndarray] = {}
        searched = {i: standalone(q, histories[i], self._title) for i, (q, _) in valid.items()}
        for i, vector in self._embed_each(searched).items():
            if isinstance(vector, AtlasError):
                out[i] = vector
            else:
                vectors[i] = vector
        groups: dict[str, list[int]] = {}  # questions with the same filters share one Chroma query
        for i in vectors:
            groups.setdefault(json.dumps(valid[i][1] or {}, sort_keys=True), []).append(i)
        for key, rows in groups.items():
            try:
                with self._store_errors():
                    found = self.index.dense_many(
                        [vectors[i] for i in rows], self.settings.fetch_k, json.loads(key) or None
                    )
            except AtlasError as exc:
                for i in rows:
                    out[i] = exc
                continue
            for i, hits in zip(rows, found):
                out[i] = self._ask_alone(*valid[i], hits, searched[i])
        return out

    @contextmanager
    def _store_errors(self) -> Iterator[None]:
        """A Chroma server that does not answer becomes `StoreUnavailableError` (one sentence, a 503 in an API)."""
        import httpx  # chromadb's HTTP client

        try:
            yield
        except (httpx.TransportError, ConnectionError) as exc:
            where = (
                f"The Chroma server at {self.settings.chroma_url}" if self.settings.chroma_url else "The index store"
            )
            raise StoreUnavailableError(
                f"{where} does not answer ({type(exc).__name__}); try again in a minute, or ask the administrator "
                "to restart it."
            ) from exc

    def _embed_each(self, questions: dict[int, str]) -> dict[int, np.ndarray | AtlasError]:
        """The questions' vectors, in one batch; when the batch fails, one by one, so a question fails alone."""
        if not questions:
            return {}
        try:
            # through the cache: the question log stores the same vectors without encoding them again
            return dict(zip(questions, self.sentence_vectors(list(questions.values()))))
        except Exception:  # noqa: BLE001 (which question broke the batch is found below)
            log.warning("encoding a batch of %d questions failed; encoding them one by one", len(questions))
        out: dict[int, np.ndarray | AtlasError] = {}
        for i, q in questions.items():
            try:
                out[i] = self.sentence_vectors([q])[0]
            except AtlasError as exc:
                out[i] = exc
            except Exception:  # noqa: BLE001 (this question alone fails; the traceback goes to the log)
                log.exception("encoding the question %r failed", q[:200])
                out[i] = AtlasError("The model could not read this question; rephrase it.")
        return out

    def _ask_alone(
        self, question: str, filters: dict[str, str] | None, hits: list[tuple[str, float]], searched: str
    ) -> Answer | AtlasError:
        """`ask` for one question of a batch (made to stand alone once, by `ask_batch`): its error, or an unexpected
        failure, is returned for it alone."""
        try:
            with self._store_errors():
                return self._answer(question, filters=filters, dense_hits=hits, searched=searched)
        except AtlasError as exc:
            return exc
        except Exception:  # noqa: BLE001 (a bug must not fail the other questions; the traceback goes to the log)
            log.exception("answering %r failed", question[:200])
            return AtlasError("An internal error stopped this answer; it has been logged. Try again or rephrase.")

    def attribute(self, claim: str, k: int | None = None) -> list[Cite]:
        """The works that support a claim, best first (footnotes or references of the sentences that state it)."""
        claim = check_question(claim)
        view = self.index.snapshot()
        retrieval = self.retriever.search(claim, k or self.settings.k, view=view)
        docs = self._docs(retrieval, view)
        ranked = rank_sentences(claim, retrieval.passages, docs, view.lexical.idf)
        return supporting_works(ranked, docs, retrieval.passages)

    def _title(self, page_id: str, view: Snapshot | None = None) -> str:
        try:
            return (view or self.index.snapshot()).document(page_id).title
        except AtlasError:
            return page_id

    def _docs(self, retrieval: Retrieval, view: Snapshot) -> dict[str, Document]:
        return {p.chunk.page_id: view.document(p.chunk.page_id) for p in retrieval.passages}
