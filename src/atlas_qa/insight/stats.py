"""Counts over the question log, done by SQLite (C speed, one pass each): totals, questions a day, per page, per set
of cited pages, per cited work, and the pages of follow-ups and thumbs-down answers. The report reads whole records
only for the few it clusters (refused, thumbs-down)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from .entry import DAY, iso_day, parse_json_list, parse_works
from .log import QuestionLog

Scope = tuple[str, float | None, float | None]  # course, since (inclusive), until (exclusive)


def _where(scope: Scope) -> tuple[str, list[Any]]:
    course, since, until = scope
    clauses: list[str] = ["course = ?"]
    values: list[Any] = [course]
    for clause, value in (("t >= ?", since), ("t < ?", until)):
        if value is not None:
            clauses.append(clause)
            values.append(value)
    return " AND ".join(clauses), values


def _rows(log: QuestionLog, scope: Scope, sql: str, first: Collection[str] = ()) -> list[tuple[Any, ...]]:
    """The rows of `sql` with `{where}` the scope's clause; `first`: the values of its placeholders before it."""
    log.ready(scope[0])
    where, values = _where(scope)
    with log.db() as db:
        return db.execute(sql.format(where=where), [*first, *values]).fetchall()


def _students(staff: Collection[str]) -> str:
    """SQL counting the distinct known askers that are not `staff` (pseudonyms, given as its first placeholders)."""
    return f"count(DISTINCT CASE WHEN student NOT IN ({', '.join('?' * len(staff))}) THEN nullif(student, '') END)"


def totals(log: QuestionLog, scope: Scope, staff: Collection[str] = ()) -> tuple[int, int, int]:
    """(questions, refused, distinct known students): askers in `staff` (pseudonyms) are not counted as students."""
    [(n, refused, students)] = _rows(
        log,
        scope,
        f"SELECT count(*), coalesce(sum(refused), 0), {_students(staff)} FROM questions WHERE {{where}}",
        sorted(staff),
    )
    return int(n), int(refused), int(students)


def per_day(log: QuestionLog, scope: Scope) -> dict[str, int]:
    """ISO date (UTC) -> questions asked that day (days without any left out)."""
    rows = _rows(log, scope, f"SELECT CAST(t / {DAY} AS INTEGER), count(*) FROM questions WHERE {{where}} GROUP BY 1")
    return {iso_day(day * DAY): int(n) for day, n in rows}


def per_page(log: QuestionLog, scope: Scope, staff: Collection[str] = ()) -> dict[str, tuple[int, int]]:
    """Page id -> (questions whose answer cites it, distinct known students who asked them, `staff` left out)."""
    rows = _rows(
        log,
        scope,
        f"SELECT j.value, count(DISTINCT questions.id), {_students(staff)}"
        " FROM questions, json_each(questions.pages) AS j WHERE {where} GROUP BY j.value",
        sorted(staff),
    )
    return {str(page): (int(n), int(students)) for page, n, students in rows}


def page_sets(log: QuestionLog, scope: Scope) -> list[tuple[tuple[str, ...], int]]:
    """Each distinct set of cited pages with how many questions cited it (topics are counted from these)."""
    rows = _rows(log, scope, "SELECT pages, count(*) FROM questions WHERE {where} GROUP BY pages")
    return [(parse_json_list(pages), int(n)) for pages, n in rows]


def works(log: QuestionLog, scope: Scope) -> list[tuple[tuple[tuple[str, str, str], ...], int]]:
    """Each distinct list of cited works (attribution rows) with how many answers cited it."""
    rows = _rows(log, scope, "SELECT works, count(*) FROM questions WHERE {where} GROUP BY works")
    return [(parse_works(w), int(n)) for w, n in rows]


def confusing(log: QuestionLog, scope: Scope) -> list[tuple[str, str, int, int]]:
    """(page id, question, follow-ups, thumbs-down) for each page cited by follow-up or thumbs-down answers and each
    question that led there."""
    rows = _rows(
        log,
        scope,
        "SELECT j.value, question, sum(follow_up), sum(helpful = 0) FROM questions, json_each(questions.pages) AS j"
        " WHERE {where} AND (follow_up OR helpful = 0) GROUP BY j.value, question",
    )
    return [(str(p), str(q), int(f), int(d)) for p, q, f, d in rows]
