"""Feedback on answers (helpful or not, an optional comment), kept in a local SQLite file with the answer it rates.

Every rating records its course, and a store reads and changes only its own course's ratings: courses that share an
index folder (or a Chroma server, whose apps keep feedback in their local index folder) never see each other's.
Ratings saved before courses were recorded (schema 1) have no course; they are shown with the `default` course, the
only course an install has unless courses are configured (see docs/reliability.md).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .evaluate.report import write_csv
from .types import Answer

FILENAME = "feedback.sqlite3"
SCHEMA_VERSION = 2
LEGACY_COURSE = "default"  # the course that sees ratings saved before each rating had its course
MAX_COMMENT_CHARS = 2000


@dataclass(frozen=True)
class Feedback:
    """One rating: what was asked, what the app answered with which citations, and what the person thought."""

    id: int
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
    """Ratings of one course in `path` (created on first write); each call opens its own connection, so threads can
    share it."""

    def __init__(self, path: Path | str, course: str = LEGACY_COURSE) -> None:
        self.path = Path(path)
        self.course = course

    @classmethod
    def for_index(cls, index_dir: Path | str, course: str = LEGACY_COURSE) -> FeedbackStore:
        """The default store: the course's ratings in `feedback.sqlite3` beside the index."""
        return cls(Path(index_dir) / FILENAME, course)

    def _mine(self) -> tuple[str, tuple[str, ...]]:
        """The SQL condition (and its values) that selects this course's ratings."""
        if self.course == LEGACY_COURSE:
            return "course IN (?, '')", (self.course,)
        return "course = ?", (self.course,)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.path, timeout=10)) as db:
            if db.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
                db.execute("BEGIN IMMEDIATE")  # one connection creates or upgrades; the others wait, then see it done
                try:
                    if db.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
                        _create_or_upgrade(db)
                    db.commit()
                except BaseException:
                    db.rollback()
                    raise
            with db:  # one transaction per call
                yield db

    def add(self, question: str, answer: Answer, helpful: bool, comment: str = "") -> int:
        """Store a rating of `answer` (to `question` as typed); returns its id."""
        citations = json.dumps([asdict(c) for c in answer.citations], ensure_ascii=False)
        with self._db() as db:
            cur = db.execute(
                "INSERT INTO feedback (course, created_at, question, asked, answer, refused, helpful, comment,"
                " citations) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    self.course,
                    time.time(),
                    question,
                    answer.question,
                    answer.answer,
                    int(answer.refused),
                    int(helpful),
                    _comment(comment),
                    citations,
                ),
            )
            return int(cur.lastrowid or 0)

    def update(self, feedback_id: int, helpful: bool | None = None, comment: str | None = None) -> None:
        """Change a rating or set its comment (someone changed their mind, or added a few words); only this course's."""
        mine, values = self._mine()
        with self._db() as db:
            if helpful is not None:
                db.execute(
                    f"UPDATE feedback SET helpful = ? WHERE id = ? AND {mine}", (int(helpful), feedback_id, *values)
                )
            if comment is not None:
                db.execute(
                    f"UPDATE feedback SET comment = ? WHERE id = ? AND {mine}",
                    (_comment(comment), feedback_id, *values),
                )

    def list(self, limit: int | None = None) -> list[Feedback]:
        """This course's ratings, newest first."""
        if not self.path.exists():
            return []
        mine, values = self._mine()
        with self._db() as db:
            rows = db.execute(
                "SELECT id, created_at, question, asked, answer, refused, helpful, comment, citations FROM feedback"
                f" WHERE {mine} ORDER BY id DESC LIMIT ?",
                (*values, -1 if limit is None else limit),
            ).fetchall()
        return [
            Feedback(i, t, q, a, ans, bool(r), bool(h), c, json.loads(cits)) for i, t, q, a, ans, r, h, c, cits in rows
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


def _create_or_upgrade(db: sqlite3.Connection) -> None:
    """Create the table, or upgrade a schema-1 table in place (its ratings kept, with no course)."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS feedback (id INTEGER PRIMARY KEY AUTOINCREMENT, created_at REAL NOT NULL,"
        " question TEXT NOT NULL, asked TEXT NOT NULL, answer TEXT NOT NULL, refused INTEGER NOT NULL,"
        " helpful INTEGER NOT NULL, comment TEXT NOT NULL DEFAULT '', citations TEXT NOT NULL)"
    )
    if "course" not in {row[1] for row in db.execute("PRAGMA table_info(feedback)")}:
        db.execute("ALTER TABLE feedback ADD COLUMN course TEXT NOT NULL DEFAULT ''")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def citation_label(c: dict[str, Any]) -> str:
    """'[1] Digital technology and service delivery (Pal)' for a stored citation."""
    who = f" ({c['speaker']})" if c.get("speaker") else ""
    return f"[{c.get('n')}] {c.get('title', '')}{who}"


def _comment(comment: str) -> str:
    return comment.strip()[:MAX_COMMENT_CHARS]
