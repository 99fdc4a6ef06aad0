"""The one way to ask: the REST API (`/api/v1/ask`), the Gradio chat and the Gradio `ask` endpoint all ask through
`Asker`, which answers with `Atlas.ask` (the question and its filters are checked there, once), logs the answer once
in the course's question log (with the searched question's vector, which retrieval already encoded) and returns the
answer with its log id and its attribution (computed once, here). A question that asks the same thing as one an
instructor reviewed (reviews/match.py) gets the reviewed answer first, unless a page it cites changed since; the
usual answer comes with it. `Courses` holds one `Atlas` per served course and the question log and reviews they share.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import Settings
from .conversation import History
from .core import Atlas
from .errors import AtlasError
from .explain import attribution_rows
from .insight import QuestionLog
from .ratings import FeedbackStore
from .reviews.match import match
from .reviews.store import Review, ReviewStore, changes
from .types import Answer, AttributionRow, answer_json


@dataclass(frozen=True)
class Asked:
    """An answer, the id of its question-log record (a rating goes onto it) and its attribution, computed once; when
    the answer is an instructor's reviewed one, the review and the usual answer."""

    answer: Answer
    log_id: str
    rows: tuple[AttributionRow, ...] = ()
    reviewed: Review | None = None
    usual: Answer | None = None

    def to_json(self, corpus: str | Path | None = None) -> dict[str, Any]:
        """What every edge sends (POST /api/v1/ask, the Gradio `ask` endpoint): the `ask --json` answer, its
        `answer_id`, and `reviewed` ({"id", "by", "at"}) with the `usual` answer when it is a reviewed one."""
        review = self.reviewed
        return {
            **answer_json(self.answer, corpus),
            "answer_id": self.log_id,
            "reviewed": {"id": review.id, "by": review.by, "at": review.at} if review else None,
            "usual": answer_json(self.usual, corpus) if self.usual else None,
        }


class Asker:
    """One course's way to ask, shared by every edge: answer, log once, return both."""

    def __init__(self, atlas: Any, log: QuestionLog, reviews: ReviewStore | None = None) -> None:
        self.atlas = atlas
        self.log = log
        self.reviews = reviews
        self.course: str = atlas.settings.course

    def ask(self, user: str, question: object, filters: object = None, history: History | None = None) -> Asked:
        """Answer `question` (with the conversation `history`, oldest first) for user `user` and log it; raises the
        AtlasError that stopped it (nothing is logged then)."""
        answer = self.atlas.ask(question, filters=filters, history=history or None)
        return self._record(user, answer, follow_up=bool(history))

    def ask_batch(
        self, users: Sequence[str], questions: Sequence[object], filters: Sequence[object] | None = None
    ) -> list[Asked | AtlasError]:
        """Several questions at once (encoded in one batch), each answered and logged or refused on its own."""
        results = self.atlas.ask_batch(questions, filters)
        return [r if isinstance(r, AtlasError) else self._record(u, r, follow_up=False) for u, r in zip(users, results)]

    def _record(self, user: str, answer: Answer, follow_up: bool) -> Asked:
        vector = self.atlas.question_vector(answer.searched or answer.question)  # retrieval's, not encoded again
        answer, review, usual = reviewed_answer(self.atlas, self.reviews, answer, vector)
        rows = tuple(attribution_rows(answer, self.atlas.document))  # once: the log and the views use these
        log_id = self.log.record(
            self.course,
            user,
            answer,
            follow_up=follow_up,
            vector=vector,
            rows=rows,
            review_id=review.id if review else None,
        )
        return Asked(answer, log_id, rows, review, usual)


def reviewed_answer(
    atlas: Any, reviews: ReviewStore | None, answer: Answer, vector: Any = None
) -> tuple[Answer, Review | None, Answer | None]:
    """(the answer to show, its review, the usual answer): the course's reviewed answer when the question asks the
    same thing as a reviewed one (`vector`: the searched question's, retrieval's) and the pages it cites are unchanged;
    else `answer` as it is. Both questions are compared in the course's words (`Atlas.in_course_words`)."""
    if reviews is None:
        return answer, None, None
    course = atlas.settings.course
    searched = answer.searched or answer.question
    view = atlas.view()  # one version of the course's words for both questions

    def spell(question: str) -> str:
        return str(atlas.in_course_words(question, view))

    questions, by_id = reviews.matcher(course, spell, view.generation)
    if not len(questions):
        return answer, None, None
    spelled = spell(searched)
    if vector is None or spelled != searched:
        vector = atlas.question_vector(spelled)
    found = match(spelled, vector, course, questions)
    if found is None or changes(by_id[found.id], atlas.page_hash):
        return answer, None, None
    review = by_id[found.id]
    return review.as_answer(answer.question), review, answer


class Courses:
    """One Atlas per served course, sharing one model, and one question log (ratings included) for them all."""

    def __init__(self, settings: Settings, first: Atlas | None = None) -> None:
        self.settings = settings
        self.names = settings.served_courses()
        self._atlases: dict[str, Atlas] = {settings.course: first} if first else {}
        self._lock = threading.Lock()
        self.ingest_lock = threading.Lock()
        self._log: QuestionLog | None = None
        self._reviews: ReviewStore | None = None

    @property
    def log(self) -> QuestionLog:
        if self._log is None:
            self._log = QuestionLog.open(self.settings, self.atlas(self.settings.course))
        return self._log

    def atlas(self, course: str) -> Atlas:
        with self._lock:
            if course not in self._atlases:
                first = next(iter(self._atlases.values()), None)
                embedder = first.embedder if first else None
                self._atlases[course] = Atlas(self.settings.with_(course=course), embedder)
            return self._atlases[course]

    @property
    def reviews(self) -> ReviewStore:
        """The reviewed answers of every course (stored with the question log)."""
        if self._reviews is None:
            self._reviews = ReviewStore.for_settings(self.settings, self.atlas(self.settings.course).sentence_vectors)
        return self._reviews

    def asker(self, course: str) -> Asker:
        return Asker(self.atlas(course), self.log, self.reviews)

    def feedback(self, course: str) -> FeedbackStore:
        return FeedbackStore(self.log, course)
