"""Instructor insight from the question log: questions over time, by page and topic, gaps, confusions, and the
attribution audit; as data (`Insights`), as the API's JSON and as the view's tables (the same numbers).

Gaps are the refused and thumbs-down questions grouped by meaning: scikit-learn's agglomerative clustering of their
vectors (cosine distance, average linkage, cut at `GAP_DISTANCE`), at most `MAX_GAP_QUESTIONS` of them (the most
recent; the rest are counted in `questions`/`refused` but not clustered), so a 50,000-question course answers in
well under 2 s (benchmarks/insight.py). Each gap is labelled with its most characteristic words (tf-idf of its
questions against the other gaps') and points to the pages nearest its centroid in the index.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np

from ..errors import InvalidInputError
from . import stats
from .entry import DAY, LogEntry, iso_day, parse_day
from .log import QuestionLog

MAX_DAYS = 3660  # the per-day counts of a range list at most ten years of days (the last ones)
GAP_DISTANCE = 0.5  # cosine distance (1 - similarity) under which two refused questions are one theme (average link)
MAX_GAP_QUESTIONS = 2000  # the most recent refused/thumbs-down questions clustered (O(n^2) memory and time)
MAX_GAPS = 50  # gaps reported (largest first)
GAP_EXAMPLES = 20  # distinct questions shown per gap
CLOSEST_PAGES = 3
MAX_CONFUSIONS = 30
CONFUSION_EXAMPLES = 10
LABEL_WORDS = 3
ASKING_WORDS = frozenset(
    "does did explain tell know mean means meant example examples question quick exam please help understand".split()
)  # words of asking, not of the theme


@dataclass(frozen=True)
class PageAsked:
    page_id: str
    title: str
    topic: str  # the page's topic (or chapter) metadata
    questions: int
    students: int


@dataclass(frozen=True)
class PageRef:
    page_id: str
    title: str


@dataclass(frozen=True)
class Gap:
    label: str
    questions: tuple[str, ...]
    students: int
    closest_pages: tuple[PageRef, ...]


@dataclass(frozen=True)
class Confusion:
    page_id: str
    title: str
    follow_ups: int
    thumbs_down: int
    questions: tuple[str, ...]


@dataclass(frozen=True)
class CitedWork:
    work: str
    page_id: str
    title: str
    citations: int
    in_references: bool  # False: the work is cited on the page but missing from its reference list


@dataclass(frozen=True)
class Insights:
    course: str
    since: str | None  # ISO dates
    until: str | None
    questions: int
    refused: int
    students: int
    per_day: tuple[tuple[str, int], ...]  # (ISO date, questions), oldest first, no gaps in dates
    pages: tuple[PageAsked, ...]  # most asked first; pages never asked come last with 0
    topics: tuple[tuple[str, int], ...]  # (topic, questions), most first
    gaps: tuple[Gap, ...]  # largest first
    confusions: tuple[Confusion, ...]
    cited: tuple[CitedWork, ...]  # most cited first
    log_health: str = ""  # why the numbers may lack records: the log cannot be written, or was deleted ("" if well)


def build_insights(
    atlas: Any, log: QuestionLog, course: str, since: str | None = None, until: str | None = None
) -> Insights:
    """The insight of `course` from `since` to `until` (ISO dates, both days included; None = open-ended).

    Every question logged before the call is counted (pending writes are stored first). Raises InvalidInputError for
    a date that is not one, or `until` before `since`.
    """
    log.flush()
    start = parse_day(since, "since date") if since else None
    end = parse_day(until, "until date") + DAY if until else None
    if start is not None and end is not None and end <= start:
        raise InvalidInputError(f"The until date {until} is before the since date {since}.")
    scope = (course, start, end)
    missed = log.entries(course, start, end, missed_only=True)
    staff = staff_pseudonyms(atlas, log)
    questions, refused, students = stats.totals(log, scope, staff)
    catalogue = _catalogue(atlas)
    title = {pid: t for pid, (t, _) in catalogue.items()}
    return Insights(
        course=course,
        since=iso_day(start) if start is not None else None,
        until=iso_day(end - DAY) if end is not None else None,
        questions=questions,
        refused=refused,
        students=students,
        per_day=per_day(stats.per_day(log, scope), *shown_days(start, end)),
        pages=pages_asked(stats.per_page(log, scope, staff), catalogue),
        topics=topics_asked(stats.page_sets(log, scope), catalogue),
        gaps=find_gaps(atlas, log, course, missed, title, staff),
        confusions=confusions(stats.confusing(log, scope), title),
        cited=cited_works(stats.works(log, scope), title),
        log_health=log.health(),
    )


def staff_pseudonyms(atlas: Any, log: QuestionLog) -> frozenset[str]:
    """The pseudonyms of the deployment's instructors and admins (its accounts database): they try the app too, and
    their questions count, but they are not students. (Staff signed in by a proxy, with no account, cannot be told.)"""
    from ..users import UserStore

    settings = getattr(atlas, "settings", None)
    users = UserStore.for_settings(settings).list() if settings is not None else []
    return frozenset(log.student(u.name) for u in users if u.role != "student")


def _catalogue(atlas: Any) -> dict[str, tuple[str, str]]:
    """Page id -> (title, topic) of every indexed page."""
    out: dict[str, tuple[str, str]] = {}
    for row in atlas.pages():
        meta = atlas.document(row["page_id"]).metadata
        out[row["page_id"]] = (row["title"], meta.get("topic") or meta.get("chapter") or "")
    return out


def shown_days(start: float | None, end: float | None, now: float | None = None) -> tuple[float | None, float | None]:
    """`start` and `end` (None: open) as the per-day counts list them: no day after today, and at most MAX_DAYS days
    (the last ones). A range such as 0001-01-01..9999-12-31 lists ten years of days, not 3.6 million (131 MB)."""
    today_end = ((time.time() if now is None else now) // DAY + 1) * DAY
    last = None if end is None else min(end, today_end)
    first = start
    if start is not None:
        first = max(start, (last if last is not None else today_end) - MAX_DAYS * DAY)
        last = None if last is None else max(first, last)
    return first, last


def per_day(counts: dict[str, int], start: float | None, end: float | None) -> tuple[tuple[str, int], ...]:
    """Questions per day from the first day (`start`'s, or the first question's) to the last (`end`'s, or the last
    question's), days without any at 0."""
    if (not counts and (start is None or end is None)) or (start is not None and start == end):
        return ()
    first = date.fromisoformat(iso_day(start) if start is not None else min(counts))
    last = date.fromisoformat(iso_day(end - DAY) if end is not None else max(counts))
    days = ((first + timedelta(d)).isoformat() for d in range((last - first).days + 1))
    return tuple((d, counts.get(d, 0)) for d in days)


def pages_asked(counts: dict[str, tuple[int, int]], catalogue: dict[str, tuple[str, str]]) -> tuple[PageAsked, ...]:
    """Every page with the questions whose answers cite it and their distinct students; most asked first, then
    pages never asked (0)."""
    rows = [
        PageAsked(pid, *catalogue.get(pid, (pid, "")), *counts.get(pid, (0, 0))) for pid in set(catalogue) | set(counts)
    ]
    return tuple(sorted(rows, key=lambda p: (-p.questions, -p.students, p.title.lower(), p.page_id)))


def topics_asked(
    page_sets: list[tuple[tuple[str, ...], int]], catalogue: dict[str, tuple[str, str]]
) -> tuple[tuple[str, int], ...]:
    """Questions per topic (a question citing two pages of one topic counts once); most first."""
    counts: Counter[str] = Counter()
    for pages, n in page_sets:
        for topic in {catalogue.get(pid, ("", ""))[1] for pid in pages}:
            if topic:
                counts[topic] += n
    return tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def find_gaps(
    atlas: Any,
    log: QuestionLog,
    course: str,
    entries: list[LogEntry],
    title: dict[str, str],
    staff: frozenset[str] = frozenset(),
) -> tuple[Gap, ...]:
    """Refused and thumbs-down questions clustered into themes; largest first (by questions, then students: askers
    not in `staff`)."""
    missed = [e for e in entries if e.refused or e.helpful is False][-MAX_GAP_QUESTIONS:]
    if not missed:
        return ()
    vectors = log.vectors(course, [e.id for e in missed])
    labels = cluster(vectors)
    groups: dict[int, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        groups[int(label)].append(i)
    ranked = sorted(
        groups.values(),
        key=lambda rows: (-len(rows), -len({missed[i].student for i in rows} - staff), missed[rows[0]].t),
    )[:MAX_GAPS]
    names = theme_labels([[missed[i].searched for i in rows] for rows in ranked])
    centroids = [_unit(vectors[rows].mean(axis=0)) for rows in ranked]
    closest = closest_pages(atlas, centroids, title)
    return tuple(
        Gap(
            label=name,
            questions=tuple(q for q, _ in Counter(missed[i].question for i in rows).most_common(GAP_EXAMPLES)),
            students=len({missed[i].student for i in rows if missed[i].student} - staff),
            closest_pages=pages,
        )
        for rows, name, pages in zip(ranked, names, closest)
    )


def cluster(vectors: np.ndarray) -> np.ndarray:
    """A cluster number per row: agglomerative, cosine distance, average linkage, cut at `GAP_DISTANCE`."""
    if len(vectors) < 2:
        return np.zeros(len(vectors), dtype=int)
    from sklearn.cluster import AgglomerativeClustering

    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    distances = np.clip(1.0 - unit @ unit.T, 0.0, 2.0).astype(np.float64)  # cosine, in one BLAS call
    np.fill_diagonal(distances, 0.0)
    model = AgglomerativeClustering(
        n_clusters=None, metric="precomputed", linkage="average", distance_threshold=GAP_DISTANCE
    )
    return model.fit_predict(distances)  # type: ignore[no-any-return]


def theme_labels(groups: list[list[str]]) -> list[str]:
    """Each group's most characteristic words: the top tf-idf terms of its questions taken as one document."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

    docs = [" ".join(g) for g in groups]
    try:
        stop = sorted(ENGLISH_STOP_WORDS | ASKING_WORDS)
        tfidf = TfidfVectorizer(stop_words=stop, token_pattern=r"(?u)\b[^\W\d_]{3,}\b", sublinear_tf=True)
        weights = tfidf.fit_transform(docs).toarray()
    except ValueError:  # nothing but stop words
        return [g[0][:60] for g in groups]
    words = tfidf.get_feature_names_out()
    out = []
    for row, group in zip(weights, groups):
        top = [words[j] for j in np.argsort(-row, kind="stable")[:LABEL_WORDS] if row[j] > 0]
        out.append(" ".join(top) if top else group[0][:60])
    return out


def closest_pages(atlas: Any, centroids: list[np.ndarray], title: dict[str, str]) -> list[tuple[PageRef, ...]]:
    """For each vector, the pages of its nearest chunks (one index query for all)."""
    if not centroids:
        return []
    hits = atlas.index.dense_many(centroids, 10 * CLOSEST_PAGES)
    out = []
    for found in hits:
        pages = list(dict.fromkeys(atlas.index.chunk(cid).page_id for cid, _ in found))[:CLOSEST_PAGES]
        out.append(tuple(PageRef(pid, title.get(pid, pid)) for pid in pages))
    return out


def confusions(rows: list[tuple[str, str, int, int]], title: dict[str, str]) -> tuple[Confusion, ...]:
    """Pages that follow-up questions or thumbs-down answers cite, with those questions; most such first.

    `rows`: (page id, question, follow-ups, thumbs-down) per page and question (`stats.confusing`).
    """
    follow: Counter[str] = Counter()
    down: Counter[str] = Counter()
    asked: dict[str, Counter[str]] = defaultdict(Counter)
    for pid, question, f, d in rows:
        follow[pid] += f
        down[pid] += d
        asked[pid][question] += f + d
    ranked = sorted(asked, key=lambda p: (-(follow[p] + down[p]), -down[p], title.get(p, p)))[:MAX_CONFUSIONS]
    return tuple(
        Confusion(
            pid,
            title.get(pid, pid),
            follow[pid],
            down[pid],
            tuple(q for q, _ in sorted(asked[pid].items(), key=lambda kv: (-kv[1], kv[0]))[:CONFUSION_EXAMPLES]),
        )
        for pid in ranked
    )


def cited_works(
    groups: list[tuple[tuple[tuple[str, str, str], ...], int]], title: dict[str, str]
) -> tuple[CitedWork, ...]:
    """The works the answers cited (attribution rows), per page; a work whose page lists no reference for it is
    `in_references=False`. Most cited first."""
    counts: Counter[tuple[str, str]] = Counter()
    listed: dict[tuple[str, str], bool] = {}
    for works, n in groups:
        for work, reference, pid in works:
            counts[(work, pid)] += n
            listed[(work, pid)] = listed.get((work, pid), False) or bool(reference)
    return tuple(
        CitedWork(work, pid, title.get(pid, pid), n, listed[(work, pid)])
        for (work, pid), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    )


def _unit(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    return (v / norm if norm else v).astype(np.float32)


def insights_json(ins: Insights) -> dict[str, Any]:
    """What GET /api/v1/insights returns."""
    return {
        "course": ins.course,
        "since": ins.since,
        "until": ins.until,
        "questions": ins.questions,
        "refused": ins.refused,
        "students": ins.students,
        "per_day": [{"date": d, "questions": n} for d, n in ins.per_day],
        "pages": [vars(p) for p in ins.pages],
        "topics": [{"topic": t, "questions": n} for t, n in ins.topics],
        "gaps": [
            {
                "label": g.label,
                "questions": list(g.questions),
                "students": g.students,
                "closest_pages": [vars(p) for p in g.closest_pages],
            }
            for g in ins.gaps
        ],
        "confusions": [{**vars(c), "questions": list(c.questions)} for c in ins.confusions],
        "cited": [vars(c) for c in ins.cited],
        "log_health": ins.log_health,
    }


def insight_tables(ins: Insights) -> dict[str, tuple[list[str], list[list[object]]]]:
    """Table name -> (headers, rows), for the view and its CSV/JSON exports; the numbers are `insights_json`'s."""
    return {
        "over_time": (["date", "questions"], [[d, n] for d, n in ins.per_day]),
        "pages": (
            ["page_id", "title", "topic", "questions", "students"],
            [[p.page_id, p.title, p.topic, p.questions, p.students] for p in ins.pages],
        ),
        "topics": (["topic", "questions"], [[t, n] for t, n in ins.topics]),
        "gaps": (
            ["theme", "questions", "students", "closest pages", "asked"],
            [
                [
                    g.label,
                    len(g.questions),
                    g.students,
                    "; ".join(p.title for p in g.closest_pages),
                    " | ".join(g.questions),
                ]
                for g in ins.gaps
            ],
        ),
        "confusions": (
            ["page_id", "title", "follow_ups", "thumbs_down", "questions"],
            [[c.page_id, c.title, c.follow_ups, c.thumbs_down, " | ".join(c.questions)] for c in ins.confusions],
        ),
        "citations": (
            ["work", "page_id", "title", "citations", "in_references"],
            [[c.work, c.page_id, c.title, c.citations, c.in_references] for c in ins.cited],
        ),
    }
