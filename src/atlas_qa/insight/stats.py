"""Counts over the question log, done by the database (one pass each, SQLite or PostgreSQL alike): totals, questions a
day, per page, per set of cited pages, per cited work, and the pages of follow-ups and thumbs-down answers. The
report reads whole records only for the few it clusters (refused, thumbs-down)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import sqlalchemy as sa

from ..database import questions as q
from .entry import DAY, iso_day, parse_json_list, parse_works
from .log import QuestionLog

Scope = tuple[str, float | None, float | None]  # course, since (inclusive), until (exclusive)


def _where(scope: Scope) -> sa.ColumnElement[bool]:
    course, since, until = scope
    clauses = [q.c.course == course]
    if since is not None:
        clauses.append(q.c.t >= since)
    if until is not None:
        clauses.append(q.c.t < until)
    return sa.and_(*clauses)


def _rows(log: QuestionLog, scope: Scope, query: sa.Select[Any]) -> list[tuple[Any, ...]]:
    """The rows of `query` over the scope's records."""
    log.ready(scope[0])
    with log.db() as db:
        return [tuple(r) for r in db.execute(query.where(_where(scope)))]


def _by_page(log: QuestionLog) -> Any:
    """The records' cited pages, one row each (`value`): a table joined beside `questions`."""
    if log.path is None:  # PostgreSQL
        return sa.func.json_array_elements_text(sa.cast(q.c.pages, sa.JSON)).table_valued("value").lateral("j")
    return sa.func.json_each(q.c.pages).table_valued("value").alias("j")


def _students(staff: Collection[str]) -> sa.ColumnElement[int]:
    """Distinct known askers that are not `staff` (pseudonyms)."""
    known = sa.and_(q.c.student != "", q.c.student.not_in(sorted(staff))) if staff else q.c.student != ""
    return sa.func.count(sa.distinct(sa.case((known, q.c.student))))


def _count_of(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.func.sum(sa.case((condition, 1), else_=0))


def totals(log: QuestionLog, scope: Scope, staff: Collection[str] = ()) -> tuple[int, int, int]:
    """(questions, refused, distinct known students): askers in `staff` (pseudonyms) are not counted as students."""
    [(n, refused, students)] = _rows(
        log, scope, sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(q.c.refused), 0), _students(staff))
    )
    return int(n), int(refused), int(students)


def per_day(log: QuestionLog, scope: Scope) -> dict[str, int]:
    """ISO date (UTC) -> questions asked that day (days without any left out)."""
    day = sa.func.floor(q.c.t / DAY)
    rows = _rows(log, scope, sa.select(day, sa.func.count()).group_by(day))
    return {iso_day(int(d) * DAY): int(n) for d, n in rows}


def per_page(log: QuestionLog, scope: Scope, staff: Collection[str] = ()) -> dict[str, tuple[int, int]]:
    """Page id -> (questions whose answer cites it, distinct known students who asked them, `staff` left out)."""
    j = _by_page(log)
    query = sa.select(j.c.value, sa.func.count(sa.distinct(q.c.id)), _students(staff)).select_from(q).join(j, sa.true())
    rows = _rows(log, scope, query.group_by(j.c.value))
    return {str(page): (int(n), int(students)) for page, n, students in rows}


def page_sets(log: QuestionLog, scope: Scope) -> list[tuple[tuple[str, ...], int]]:
    """Each distinct set of cited pages with how many questions cited it (topics are counted from these)."""
    rows = _rows(log, scope, sa.select(q.c.pages, sa.func.count()).group_by(q.c.pages))
    return [(parse_json_list(pages), int(n)) for pages, n in rows]


def works(log: QuestionLog, scope: Scope) -> list[tuple[tuple[tuple[str, str, str], ...], int]]:
    """Each distinct list of cited works (attribution rows) with how many answers cited it."""
    rows = _rows(log, scope, sa.select(q.c.works, sa.func.count()).group_by(q.c.works))
    return [(parse_works(w), int(n)) for w, n in rows]


def confusing(log: QuestionLog, scope: Scope) -> list[tuple[str, str, int, int]]:
    """(page id, question, follow-ups, thumbs-down) for each page cited by follow-up or thumbs-down answers and each
    question that led there."""
    j = _by_page(log)
    query = (
        sa.select(j.c.value, q.c.question, sa.func.sum(q.c.follow_up), _count_of(q.c.helpful == 0))
        .select_from(q)
        .join(j, sa.true())
        .where((q.c.follow_up != 0) | (q.c.helpful == 0))
        .group_by(j.c.value, q.c.question)
    )
    return [(str(p), str(question), int(f), int(d)) for p, question, f, d in _rows(log, scope, query)]
