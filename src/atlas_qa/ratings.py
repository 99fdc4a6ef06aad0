"""Feedback on answers (helpful or not, an optional comment): the rating of a question-log record.

Each answer is one record of the course's question log (insight/log.py), written by `asking.Asker`; a rating and
its comment are set on that record, so feedback is shared by every replica that shares the store, and a course only
ever sees its own. Ratings kept in the old `feedback.sqlite3` are imported into the log once, on its first use
(insight/migrate.py).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .evaluate.report import write_csv
from .insight.log import QuestionLog
from .types import Answer

MAX_COMMENT_CHARS = 2000


@dataclass(frozen=True)
class Feedback:
    """One rating: what was asked, what the app answered with which citations, and what the person thought."""

    id: str
    created_at: float
    question: str  # as typed
    asked: str  # as retrieved with (a follow-up made standalone)
    answer: str
    refused: bool
    helpful: bool
    comment: str
    citations: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class FeedbackStore:
    """The ratings of one course, kept on its question-log records; threads can share it."""

    def __init__(self, log: QuestionLog, course: str = "default") -> None:
        self.log = log
        self.course = course

    def add(self, question: str, answer: Answer, helpful: bool, comment: str = "", user: str = "") -> str:
        """Rate an answer that has no log record yet (a new record, written now); returns its id."""
        return self.log.add_rated(self.course, user, answer, question, helpful, _comment(comment))

    def update(self, feedback_id: str, helpful: bool | None = None, comment: str | None = None) -> None:
        """Rate a logged answer, change its rating or set its comment; only this course's records."""
        self.log.rate(self.course, feedback_id, helpful, None if comment is None else _comment(comment))

    def list(self, limit: int | None = None) -> list[Feedback]:
        """This course's ratings, newest first."""
        self.log.flush()
        entries = sorted(self.log.entries(self.course, rated_only=True), key=lambda e: -e.t)[:limit]
        details = self.log.details(self.course, [e.id for e in entries])
        return [
            Feedback(
                e.id,
                e.t,
                e.question,
                e.searched,
                details.get(e.id, {}).get("answer", ""),
                e.refused,
                bool(e.helpful),
                e.comment,
                details.get(e.id, {}).get("citations", []),
            )
            for e in entries
        ]

    def export_json(self, path: Path) -> Path:
        """Every rating with its full citations, as a JSON list."""
        path.write_text(json.dumps([f.to_json() for f in self.list()], ensure_ascii=False, indent=2), encoding="utf-8")
        return path

    def export_csv(self, path: Path) -> Path:
        """One row per rating; citations as "[n] title (speaker)" joined by "; " (the JSON export has them whole)."""
        header = ["id", "created_at", "question", "asked", "answer", "refused", "helpful", "comment", "citations"]
        rows = [
            [
                f.id,
                time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(f.created_at)),
                f.question,
                f.asked,
                f.answer,
                f.refused,
                f.helpful,
                f.comment,
                "; ".join(citation_label(c) for c in f.citations),
            ]
            for f in self.list()
        ]
        return write_csv(path, header, rows)


def citation_label(c: dict[str, Any]) -> str:
    """'[1] Digital technology and service delivery (Pal)' for a stored citation."""
    who = f" ({c['speaker']})" if c.get("speaker") else ""
    return f"[{c.get('n')}] {c.get('title', '')}{who}"


def _comment(comment: str) -> str:
    return comment.strip()[:MAX_COMMENT_CHARS]
