"""The one-time import of the ratings kept before the question log (`feedback.sqlite3` beside the index).

Each old rating becomes a rated log record with a stable id (`feedback-<course>-<n>`), so two replicas importing at
once write the same records; the log's `imports` table then says it is done, and the file is left as it was.
Ratings saved before courses were recorded (no course) belong to the `default` course, as they always did.
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ..database import imports, upsert
from ..types import answer_from_json

FILENAME = "feedback.sqlite3"
LEGACY_COURSE = "default"
DONE = "feedback_imported"


def legacy_ratings(path: Path, course: str) -> list[dict[str, Any]]:
    """The course's rows of an old feedback file, oldest first (none when it has no feedback table)."""
    if not path.exists():
        return []
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)) as db:
        columns = {row[1] for row in db.execute("PRAGMA table_info(feedback)")}
        if not columns:
            return []
        where, values = ("1", ()) if "course" not in columns else ("course = ?", (course,))
        if "course" in columns and course == LEGACY_COURSE:
            where = "course IN (?, '')"
        if "course" not in columns and course != LEGACY_COURSE:
            return []
        db.row_factory = sqlite3.Row
        rows = db.execute(f"SELECT * FROM feedback WHERE {where} ORDER BY id", values).fetchall()
    return [dict(r) for r in rows]


def import_feedback(log: Any, course: str) -> int:
    """Import the course's old ratings into `log` once; returns how many were imported now."""
    with log.db() as db:
        if db.execute(sa.select(imports.c.course).where(imports.c.course == course)).first():
            return 0
    rows = legacy_ratings(Path(log.settings.index_dir) / FILENAME, course)
    vectors = log.embed([r["asked"] or r["question"] for r in rows]) if rows else []
    for r, vector in zip(rows, vectors):
        answer = answer_from_json(
            {
                "question": r["question"],
                "searched": r["asked"],
                "answer": r["answer"],
                "refused": bool(r["refused"]),
                "citations": json.loads(r["citations"] or "[]"),
            }
        )
        log.add_rated(
            course,
            "",
            answer,
            r["question"],
            bool(r["helpful"]),
            r["comment"] or "",
            rid=f"feedback-{course}-{r['id']}",
            t=float(r["created_at"]),
            vector=vector,
        )
    with log.db() as db:
        upsert(db, imports, {"course": course, "rows": len(rows), "at": time.time()}, replace=False)
    return len(rows)
