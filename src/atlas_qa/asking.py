"""The one way to ask: the REST API (`/api/v1/ask`), the Gradio chat and the Gradio `ask` endpoint all ask through
`Asker`, which answers with `Atlas.ask` (the question and its filters are checked there, once), logs the answer once
in the course's question log (with the searched question's vector, which retrieval already encoded) and returns the
answer with its log id and its attribution (computed once, here). `Courses` holds one `Atlas` per served course and
the one question log they share.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .config import Settings
from .conversation import History
from .core import Atlas
from .errors import AtlasError
from .explain import attribution_rows
from .insight import QuestionLog
from .ratings import FeedbackStore
from .types import Answer, AttributionRow


@dataclass(frozen=True)
class Asked:
    """An answer, the id of its question-log record (a rating goes onto it) and its attribution, computed once."""

    answer: Answer
    log_id: str
    rows: tuple[AttributionRow, ...] = ()


class Asker:
    """One course's way to ask, shared by every edge: answer, log once, return both."""

    def __init__(self, atlas: Any, log: QuestionLog) -> None:
        self.atlas = atlas
        self.log = log
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
        rows = tuple(attribution_rows(answer, self.atlas.document))  # once: the log and the views use these
        vector = self.atlas.question_vector(answer.searched or answer.question)  # retrieval's, not encoded again
        log_id = self.log.record(self.course, user, answer, follow_up=follow_up, vector=vector, rows=rows)
        return Asked(answer, log_id, rows)


class Courses:
    """One Atlas per served course, sharing one model, and one question log (ratings included) for them all."""

    def __init__(self, settings: Settings, first: Atlas | None = None) -> None:
        self.settings = settings
        self.names = settings.served_courses()
        self._atlases: dict[str, Atlas] = {settings.course: first} if first else {}
        self._lock = threading.Lock()
        self.ingest_lock = threading.Lock()
        self._log: QuestionLog | None = None

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

    def asker(self, course: str) -> Asker:
        return Asker(self.atlas(course), self.log)

    def feedback(self, course: str) -> FeedbackStore:
        return FeedbackStore(self.log, course)
