"""Data requests on the question log (`atlas-qa log export|purge`): a student's or a period's records, out or gone."""

from __future__ import annotations

from typing import Any

from ..config import Settings
from .entry import parse_day
from .log import QuestionLog


def user_names(log: QuestionLog, settings: Settings) -> dict[str, str]:
    """Pseudonym -> user name of every account (for an admin who turned `log_show_names` on)."""
    from ..users import UserStore

    return {log.student(u.name): u.name for u in UserStore.for_settings(settings).list()}


def export(
    log: QuestionLog, course: str, before: str | None = None, student: str | None = None
) -> list[dict[str, Any]]:
    """The course's records (all fields, the answer and its citations included), oldest first; with the user's name
    beside the pseudonym when `log_show_names` is on."""
    until = parse_day(before, "--before date") if before else None
    entries = log.entries(course, until=until, student=log.resolve_student(student, course) if student else None)
    details = log.details(course, [e.id for e in entries])
    names = user_names(log, log.settings) if log.settings.log_show_names else {}
    out = []
    for e in entries:
        row = {**e.to_json(), **details.get(e.id, {})}
        if names:
            row["name"] = names.get(e.student, "")
        out.append(row)
    return out


def purge(log: QuestionLog, course: str, before: str | None = None, student: str | None = None) -> int:
    """Delete the course's records before a date and/or of a student (pseudonym or user name); returns how many."""
    until = parse_day(before, "--before date") if before else None
    return log.purge(course, before=until, student=log.resolve_student(student, course) if student else None)
