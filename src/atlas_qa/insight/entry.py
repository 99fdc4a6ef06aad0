"""One logged question as the report reads it (`LogEntry`), and the date and JSON helpers around it."""

from __future__ import annotations

import functools
import json
from datetime import datetime, timezone
from typing import Any, NamedTuple

from ..errors import InvalidInputError

NO_RATING = -1  # the rating column of an unrated answer
DAY = 86400.0


class LogEntry(NamedTuple):
    """One logged question (the light fields; `QuestionLog.details` reads the answer and citations). A named tuple:
    the report builds 50,000 of them in a blink."""

    id: str
    course: str
    t: float  # seconds since the epoch
    student: str  # pseudonym
    question: str  # as typed
    searched: str  # as retrieval was asked (a follow-up made standalone)
    refused: bool
    follow_up: bool
    pages: tuple[str, ...]  # cited pages, in citation order
    passages: tuple[str, ...]  # cited passages: "page id#start-end"
    works: tuple[tuple[str, str, str], ...]  # (cited work, full reference or "", page id) per attribution row
    helpful: bool | None  # None: not rated
    comment: str

    @property
    def day(self) -> str:
        return iso_day(self.t)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = self._asdict()
        out.update(pages=list(self.pages), passages=list(self.passages), works=[list(w) for w in self.works])
        out["time"] = datetime.fromtimestamp(self.t, timezone.utc).isoformat(timespec="seconds")
        return out


def iso_day(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).date().isoformat()


def parse_day(text: str, what: str = "date") -> float:
    """The start (UTC) of an ISO date `YYYY-MM-DD` (or a full ISO time) as epoch seconds; a clear error otherwise."""
    try:
        when = datetime.fromisoformat(text.strip())
    except (ValueError, AttributeError):
        raise InvalidInputError(f"The {what} {text!r} is not a date like 2026-01-31.") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    try:
        return when.timestamp()
    except (OverflowError, ValueError, OSError):  # 0001-01-01T00:00+01:00 is before year 1 in UTC
        raise InvalidInputError(f"The {what} {text!r} is out of range; use a date like 2026-01-31.") from None


@functools.lru_cache(maxsize=65536)
def parse_json_list(raw: str) -> tuple[str, ...]:
    """A JSON list as a tuple; the same lists recur (popular pages), so each is parsed once."""
    return tuple(json.loads(raw))


@functools.lru_cache(maxsize=65536)
def parse_works(raw: str) -> tuple[tuple[str, str, str], ...]:
    return tuple(tuple(w) for w in json.loads(raw))  # type: ignore[misc]


def entry_from_row(course: str, row: tuple[Any, ...]) -> LogEntry:
    rid, t, student, question, searched, refused, follow_up, pages, passages, works, helpful, comment = row
    return LogEntry(
        id=rid,
        course=course,
        t=float(t),
        student=student,
        question=question,
        searched=searched,
        refused=bool(refused),
        follow_up=bool(follow_up),
        pages=parse_json_list(pages),
        passages=parse_json_list(passages),
        works=parse_works(works),
        helpful=None if helpful < 0 else bool(helpful),
        comment=comment,
    )
