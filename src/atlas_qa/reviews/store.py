"""Reviewed answers: what an instructor endorsed, composed from course sentences, or marked not covered, per course.

Stored where the accounts and the question log are (database.py: the SQLite log file, or PostgreSQL). A review keeps
the question(s) it answers with their embeddings (for `match.py`), the answer in the shape `/api/v1/ask` returns
(every sentence with its page span and citation), the instructor's note (their own words, never mixed with course
text), the content hash of every page it cites, who reviewed it and when. A cited page that changed or disappeared
makes the review stale: it is not shown, and is listed as needing review until an instructor confirms it again.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import sqlalchemy as sa

from .. import database
from ..attribution import chain_for_span, cites_in_span
from ..config import Settings
from ..errors import AtlasError, InvalidInputError, NotFoundError
from ..spans import clean
from ..types import Answer, AnswerSentence, Citation, answer_from_json, answer_json
from .match import ReviewedQuestions

log = logging.getLogger(__name__)

KINDS = ("endorsed", "composed", "not_covered")
MAX_SENTENCES = 12  # sentences a composed answer may pick
MAX_SPAN_CHARS = 2000  # the longest span one picked sentence may cover
MAX_NOTE_CHARS = 1000
MAX_QUESTIONS = 20  # questions one review answers
CHECK_EVERY_S = 1.0  # how often a process looks for reviews changed by another replica

reviews = database.reviews


@dataclass(frozen=True)
class Review:
    """One reviewed answer of a course."""

    id: str
    course: str
    kind: str
    questions: tuple[str, ...]
    answer: Mapping[str, Any]  # the `ask --json` shape; {} for `not_covered`
    note: str
    pages: Mapping[str, str]  # page id -> content hash when reviewed
    by: str
    at: float
    changes: tuple[str, ...] = field(default=())  # what changed in its pages since (stale when not empty)

    @property
    def stale(self) -> bool:
        return bool(self.changes)

    @property
    def day(self) -> str:
        """The day it was reviewed, YYYY-MM-DD (UTC, as the Insight view's days)."""
        from ..insight.entry import iso_day

        return iso_day(self.at)

    def checked(self, hash_of: HashOf) -> Review:
        """This review with what changed in its pages since (`changes`), as `hash_of` says they are now."""
        return replace(self, changes=changes(self, hash_of))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "course": self.course,
            "kind": self.kind,
            "questions": list(self.questions),
            "answer": dict(self.answer) or None,
            "note": self.note,
            "pages": dict(self.pages),
            "by": self.by,
            "at": self.at,
            "stale": self.stale,
            "changes": list(self.changes),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], course: str) -> Review:
        """A review as `to_json` wrote it (an export), into `course`; InvalidInputError on another shape."""
        try:
            return cls(
                id=str(data["id"]),
                course=course,
                kind=_kind(str(data["kind"])),
                questions=_questions([str(q) for q in data["questions"]]),
                answer=dict(data.get("answer") or {}),
                note=_note(str(data.get("note") or "")),
                pages={str(k): str(v) for k, v in (data.get("pages") or {}).items()},
                by=str(data["by"]),
                at=float(data["at"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidInputError(f"Not a review as `atlas-qa reviews export` writes one: {exc!r}.") from None

    def as_answer(self, question: str) -> Answer:
        """The reviewed answer to `question`, its sentences and citations as reviewed."""
        return answer_from_json({**self.answer, "question": question, "searched": question})


def compose(document: Callable[[str], Any], question: str, spans: Sequence[tuple[str, int, int]]) -> Answer:
    """An answer made of course sentences an instructor picked (`(page_id, start, end)` in page characters), in that
    order, each with its own citation: speaker, chain and works cited as for any answer. NotFoundError for a page or
    span the course does not have, InvalidInputError for too many sentences or too long a span."""
    if not spans or len(spans) > MAX_SENTENCES:
        raise InvalidInputError(f"Pick between 1 and {MAX_SENTENCES} sentences of the course.")
    sentences, citations = [], []
    for n, (page_id, start, end) in enumerate(spans, 1):
        try:
            doc = document(page_id)
        except (AtlasError, KeyError):
            raise NotFoundError(f"Sentence {n}: the course has no page {page_id!r}.") from None
        if not (0 <= start < end <= len(doc.text)):
            raise NotFoundError(
                f"Sentence {n}: page {page_id!r} has no characters {start}-{end} ({len(doc.text)} characters)."
            )
        if end - start > MAX_SPAN_CHARS:
            raise InvalidInputError(f"Sentence {n}: at most {MAX_SPAN_CHARS} characters per sentence.")
        text = clean(doc.text[start:end])
        if not text:
            raise InvalidInputError(f"Sentence {n}: characters {start}-{end} of page {page_id!r} hold no text.")
        speaker, pages, speaker_ref, chain = chain_for_span(doc, start, end)
        section = doc.section_at(start)
        citations.append(
            Citation(
                n=n,
                page_id=doc.page_id,
                title=doc.title,
                source=doc.metadata.get("source_url") or doc.source,
                section=section,
                speaker=speaker,
                pages=pages,
                cites=tuple(cites_in_span(doc, start, end)),
                text=doc.text[start:end],
                score=1.0,
                start=start,
                end=end,
                speaker_reference=speaker_ref,
                chain=chain,
                offset=start,
            )
        )
        sentences.append(AnswerSentence(text=text, n=n, page_id=doc.page_id, start=start, end=end))
    return Answer.from_sentences(question, tuple(sentences), tuple(citations))


HashOf = Callable[[str], "str | None"]  # page id -> the digest of its text now (None: no such page); Atlas.page_hash


def cited_pages(answer: Answer, hash_of: HashOf) -> dict[str, str]:
    """Page id -> content hash of every page the answer cites."""
    return {c.page_id: hash_of(c.page_id) or "" for c in answer.citations}


def changes(review: Review, hash_of: HashOf) -> tuple[str, ...]:
    """What changed in the review's pages: a sentence each (none: it may be shown)."""
    out = []
    for page_id, reviewed in sorted(review.pages.items()):
        now = hash_of(page_id)
        if now is None:
            out.append(f"The page {page_id} is no longer in the course.")
        elif now != reviewed:
            out.append(f"The page {page_id} changed since the review.")
    return tuple(out)


class ReviewStore:
    """The reviewed answers of every course of one database; `embed` turns questions into the course's vectors."""

    def __init__(self, url: str, embed: Callable[[Sequence[str]], np.ndarray]) -> None:
        self.url = url
        self.embed = embed
        self._lock = threading.Lock()
        self._matchers: dict[str, tuple[tuple[Any, ...], ReviewedQuestions, dict[str, Review]]] = {}
        self._checked: dict[str, float] = {}

    @classmethod
    def for_settings(cls, settings: Settings, embed: Callable[[Sequence[str]], np.ndarray]) -> ReviewStore:
        """The reviews of a deployment: stored with its question log."""
        return cls(database.log_url(settings), embed)

    # -- changing ---------------------------------------------------------------------------------------------------
    def create(
        self,
        course: str,
        questions: Sequence[str],
        kind: str,
        answer: Answer | None,
        note: str,
        by: str,
        hash_of: HashOf,
    ) -> Review:
        """Store a review of `questions` in `course`: `answer` as given (endorsed, composed) or none (not covered)."""
        review = Review(
            id=uuid.uuid4().hex,
            course=course,
            kind=_kind(kind),
            questions=_questions(questions),
            answer=answer_json(answer) if answer is not None else {},
            note=_note(note),
            pages=cited_pages(answer, hash_of) if answer is not None else {},
            by=by,
            at=time.time(),
        )
        if kind != "not_covered" and answer is None:
            raise InvalidInputError("An endorsed or composed review needs its answer.")
        with database.connect(self.url) as db:
            db.execute(sa.insert(reviews).values(**self._row(review)))
        self._changed(course)
        return review

    def update(
        self,
        review: Review,
        by: str,
        hash_of: HashOf,
        questions: Sequence[str] | None = None,
        answer: Answer | None = None,
        note: str | None = None,
    ) -> Review:
        """Change a review's questions, answer or note; saving it again confirms it against the pages as they are now
        (a stale review, confirmed, is shown again)."""
        kept = review.as_answer(review.questions[0]) if review.answer else None
        new_answer = answer if answer is not None else kept
        changed = Review(
            id=review.id,
            course=review.course,
            kind="composed" if answer is not None else review.kind,
            questions=_questions(questions) if questions is not None else review.questions,
            answer=answer_json(new_answer) if new_answer is not None else {},
            note=_note(note) if note is not None else review.note,
            pages=cited_pages(new_answer, hash_of) if new_answer is not None else {},
            by=by,
            at=time.time(),
        )
        with database.connect(self.url) as db:
            row = self._row(changed)
            db.execute(sa.update(reviews).where(reviews.c.id == review.id).values(**row))
        self._changed(review.course)
        return changed

    def put(self, review: Review) -> None:
        """Store `review` as it is (an imported one), replacing the review of the same id."""
        if review.answer:
            review.as_answer(review.questions[0])  # an answer of another shape is refused before it is stored
        with database.connect(self.url) as db:
            database.upsert(db, reviews, self._row(review))
        self._changed(review.course)

    def delete(self, review: Review) -> None:
        with database.connect(self.url) as db:
            db.execute(sa.delete(reviews).where(reviews.c.id == review.id))
        self._changed(review.course)

    def _changed(self, course: str) -> None:
        """Reviews of `course` changed here: the next match reads them (other replicas within CHECK_EVERY_S)."""
        with self._lock:
            self._checked.pop(course, None)
            self._matchers.pop(course, None)

    def _row(self, review: Review) -> dict[str, Any]:
        vectors = np.asarray(self.embed(list(review.questions)), dtype=np.float32)
        return {
            "id": review.id,
            "course": review.course,
            "kind": review.kind,
            "questions": json.dumps(list(review.questions), ensure_ascii=False),
            "vectors": vectors.tobytes(),
            "answer": json.dumps(dict(review.answer), ensure_ascii=False),
            "note": review.note,
            "pages": json.dumps(dict(review.pages)),
            "reviewed_by": review.by,
            "reviewed_at": review.at,
        }

    # -- reading ----------------------------------------------------------------------------------------------------
    def get(self, review_id: str, hash_of: HashOf | None = None) -> Review:
        with database.connect(self.url) as db:
            row = db.execute(sa.select(reviews).where(reviews.c.id == review_id)).first()
        if row is None:
            raise NotFoundError(f"No review {review_id!r}.")
        return _review(row._mapping, hash_of)

    def list(self, course: str, hash_of: HashOf | None = None) -> list[Review]:
        """The course's reviews, newest first; with `hash_of` (the pages now), each says what changed."""
        with database.connect(self.url) as db:
            rows = db.execute(
                sa.select(reviews).where(reviews.c.course == course).order_by(reviews.c.reviewed_at.desc())
            ).all()
        return [_review(r._mapping, hash_of) for r in rows]

    def matcher(
        self, course: str, spell: Callable[[str], str] | None = None, words: Hashable = None
    ) -> tuple[ReviewedQuestions, dict[str, Review]]:
        """The course's answered reviews, ready to match (one entry per reviewed question, its id the review's); built
        again when another process changed them (checked at most once a second). While the database cannot be
        reached, the reviews last read (or none): a question is still answered. `spell` puts a reviewed question in
        the course's words when it is built (a question it changes is embedded again); `words` names the version of
        those words (the index's generation): another one builds the matcher again at once."""
        now = time.monotonic()
        with self._lock:
            cached = self._matchers.get(course)
            if (
                cached is not None
                and cached[0][-1:] == (words,)  # built for these words, and checked within the second
                and now - self._checked.get(course, 0.0) < CHECK_EVERY_S
            ):
                return cached[1], cached[2]
        path = database.sqlite_path(self.url)
        if path is not None and not path.exists():  # no log file yet: no reviews (and none is made by looking)
            return ReviewedQuestions(course, [], [], np.zeros((0, 1), dtype=np.float32)), {}
        try:
            return self._read(course, cached, now, spell or (lambda q: q), words)
        except database.DatabaseUnavailable as exc:
            log.warning("reviewed answers of %s not read (%s): the last ones read are used", course, exc.reason)
            empty = ReviewedQuestions(course, [], [], np.zeros((0, 1), dtype=np.float32))
            # kept for these words, and read again when the database is back (no stamp of the table matches this one)
            cached = ((None, words), *(cached[1:] if cached is not None else (empty, {})))
            with self._lock:
                self._matchers[course] = cached
                self._checked[course] = now  # tried again in a second, not on every question
            return cached[1], cached[2]

    def _read(
        self,
        course: str,
        cached: tuple[tuple[Any, ...], ReviewedQuestions, dict[str, Review]] | None,
        now: float,
        spell: Callable[[str], str],
        words: Hashable,
    ) -> tuple[ReviewedQuestions, dict[str, Review]]:
        with database.connect(self.url) as db:
            counted = sa.select(sa.func.count(), sa.func.max(reviews.c.reviewed_at)).where(reviews.c.course == course)
            stamp = (*db.execute(counted).one(), words)
            if cached is not None and cached[0] == stamp:
                with self._lock:
                    self._checked[course] = now
                return cached[1], cached[2]
            rows = db.execute(
                sa.select(reviews).where(reviews.c.course == course, reviews.c.kind != "not_covered")
            ).all()
        by_id = {r.id: _review(r._mapping) for r in rows}
        ids, texts, vectors = [], [], []
        for r in rows:
            questions = json.loads(r.questions)
            ids += [r.id] * len(questions)
            texts += questions
            vectors.append(np.frombuffer(r.vectors, dtype=np.float32).reshape(len(questions), -1))
        matrix = np.vstack(vectors) if vectors else np.zeros((0, 1), dtype=np.float32)
        spelled = [spell(t) for t in texts]
        respelled = [i for i, (a, b) in enumerate(zip(texts, spelled)) if a != b]
        if respelled:
            matrix = matrix.copy()
            matrix[respelled] = np.asarray(self.embed([spelled[i] for i in respelled]), dtype=np.float32)
        built = ReviewedQuestions(course, ids, spelled, matrix)
        with self._lock:
            self._matchers[course] = (stamp, built, by_id)
            self._checked[course] = now
        return built, by_id


def _review(row: Any, hash_of: HashOf | None = None) -> Review:
    review = Review(
        id=row["id"],
        course=row["course"],
        kind=row["kind"],
        questions=tuple(json.loads(row["questions"])),
        answer=json.loads(row["answer"]),
        note=row["note"],
        pages=json.loads(row["pages"]),
        by=row["reviewed_by"],
        at=float(row["reviewed_at"]),
    )
    return review if hash_of is None else review.checked(hash_of)


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise InvalidInputError(f"A review is one of {', '.join(KINDS)} (got {kind!r}).")
    return kind


def _questions(questions: Sequence[str]) -> tuple[str, ...]:
    """The questions a review answers, each checked as an asked one (`core.check_question`), repeats dropped."""
    from ..core import check_question

    found = tuple(dict.fromkeys(" ".join(check_question(q).split()) for q in questions))
    if not found or len(found) > MAX_QUESTIONS:
        raise InvalidInputError(f"A review answers between 1 and {MAX_QUESTIONS} questions.")
    return found


def _note(note: str) -> str:
    note = note.strip()
    if len(note) > MAX_NOTE_CHARS:
        raise InvalidInputError(f"The note is at most {MAX_NOTE_CHARS} characters ({len(note)} given).")
    return note
