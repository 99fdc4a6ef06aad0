"""The question log: every question asked in a course, who asked (a pseudonym), what was searched and cited, how it
was rated, and the question's embedding; in the database every app replica uses (database.py).

Storage: the SQLite file `Settings.log_db` (default `questions.sqlite3` beside the users db), or PostgreSQL when
`Settings.database_url` is set (docs/insight-storage.md says why not a Chroma collection: measured there). One row
per answer: time, course, pseudonym, the question as typed and as searched, refused, follow-up, cited pages, passages
and works (JSON), rating, comment, the answer and its citations (JSON) and the searched question's vector (float32
bytes, reused from retrieval). SQLite runs in WAL mode: readers never wait for a writer.

Writes go through one background thread per log (an ask returns before its row is written, in the order made);
`flush()` waits for them and `close()` is called on shutdown. A process killed hard loses the rows of its last few
milliseconds, never the file: each row is one committed transaction.

A log that cannot be written (PostgreSQL stopped or unreachable, a read-only file, `chattr +i`, a full disk) loses
nothing while the app runs: the writes are
kept in memory, in order, and tried again every `RETRY_SECONDS` and with each new write, and `health()` says so in
one sentence (the Insight view and `GET /api/v1/insights` show it; the server's log has a line when it starts and
when it ends). A log file deleted while serving is noticed before the next read or write (its inode changed):
records go into a new file instead of the deleted one, and `health()` says what happened.

Students are pseudonymous: `student` is HMAC-SHA256(key, user name), hex, 16 digits; the key is `Settings.log_key`
or else kept in the accounts database, made on first use (replicas share it as they share the accounts).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .. import database
from ..config import Settings
from ..database import DatabaseUnavailable, answers, questions, upsert
from ..errors import AtlasError
from .entry import DAY, NO_RATING, LogEntry, entry_from_row
from .pseudonyms import log_key, pseudonym

log = logging.getLogger(__name__)

READ_BATCH = 900  # ids per SQL statement (under SQLite's 999 variables)
CANNOT_WRITE = (DatabaseUnavailable, OSError)  # the log cannot be written now: records wait in memory
RETRY_SECONDS = 5.0  # how often writes kept in memory are tried again while the log cannot be written
MAX_KEPT = 100_000  # writes kept in memory at most while the log cannot be written (then the oldest are dropped)
COLUMNS = [
    questions.c[name]
    for name in ("id", "t", "student", "question", "searched", "refused", "follow_up", "pages", "passages", "works")
    + ("helpful", "comment")
]
_STOP = object()


class QuestionLog:
    """The question logs of the courses of one file. Thread-safe; writes happen in one background thread.

    `embed`: texts -> unit vectors, for rows written without a vector (an imported rating); `key`: the pseudonym key.
    """

    def __init__(
        self,
        settings: Settings,
        embed: Callable[[Sequence[str]], np.ndarray] | None = None,
        key: bytes | None = None,
    ) -> None:
        self.settings = settings
        self.url = database.log_url(settings)
        self.path = database.sqlite_path(self.url)  # None on a server database
        self.where = str(self.path) if self.path else database.describe(self.url)
        self.embed = embed
        self.days = settings.log_days
        self._key = key
        self._ready: set[str] = set()
        self._lock = threading.RLock()
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._file: tuple[int, int] | None = None  # the SQLite file in use (device, inode)
        self._kept: deque[Callable[[], None]] = deque()  # writes not stored yet, oldest first (the writer's own)
        self._problem = ""  # why the log cannot be written now ("" when it can)
        self._notice = ""  # what happened to the log file while serving (deleted)
        self._dropped = 0  # writes dropped past MAX_KEPT

    @classmethod
    def open(cls, settings: Settings, atlas: Any = None) -> QuestionLog:
        """The log `settings` name; with `atlas`, question vectors come from its cache (the vector retrieval just
        computed is reused, not encoded again)."""
        return cls(settings, embed=getattr(atlas, "sentence_vectors", None))

    # -- identity ---------------------------------------------------------------------------------------------------
    @property
    def key(self) -> bytes:
        if self._key is None:
            self._key = log_key(self.settings)
        return self._key

    def student(self, name: str) -> str:
        """The pseudonym of user `name`."""
        return pseudonym(self.key, name)

    # -- storage ----------------------------------------------------------------------------------------------------
    @contextmanager
    def db(self) -> Iterator[Connection]:
        """A connection in one transaction (committed at the end of the block); DatabaseUnavailable when the log cannot
        be reached or written. Connections are pooled: closing the last SQLite one checkpoints the WAL to disk, ~11 ms
        a write when each write opened its own."""
        self._check_file()
        with database.connect(self.url) as db:
            if self.path is not None and self._file is None:
                self._file = _file_id(self.path)
            yield db

    def _check_file(self) -> None:
        """Notice that the SQLite file in use was deleted or replaced: open the file now there."""
        known = self._file  # read once: the writer thread may forget it (`_reconnect`) while the file is looked at
        if self.path is None or known is None or _file_id(self.path) == known:
            return
        self._reconnect()
        with self._lock:
            self._ready.clear()  # a new file: its tables are made on first use
            self._notice = (
                f"The question log {self.path} was deleted or replaced while serving (noticed at "
                f"{time.strftime('%Y-%m-%d %H:%M', time.localtime())}); records since then are in the new file, "
                "the earlier ones are not."
            )
        log.warning("%s", self._notice)

    def _reconnect(self) -> None:
        """Close the pooled connections (the next use connects again: a file opened read-only may be writable now,
        and a read-only reader of a WAL file may not see what is written later)."""
        self._file = None
        database.forget(self.url)

    def health(self) -> str:
        """One sentence when the log cannot be written (its records are kept in memory meanwhile) or its file was
        deleted while serving; "" when all is well."""
        with self._lock:
            kept, dropped = len(self._kept), self._dropped
            problem = self._problem and (
                f"{self._problem}: {kept} record{'s' * (kept != 1)} kept in memory until it can be"
                + (f" ({dropped} older ones dropped)" if dropped else "")
                + "."
            )
            return " ".join(p for p in (problem, self._notice) if p)

    def ready(self, course: str) -> None:
        """On the course's first use in this process: tables made, old feedback imported, expired rows deleted."""
        with self._lock:
            self._check_file()
            if course in self._ready:
                return
            from ..store.client import collection_name

            collection_name(course)  # the same rule for course names as the index
            with self.db():
                pass  # the schema is made or upgraded as the database is opened
            self._ready.add(course)
            from .migrate import import_feedback

            import_feedback(self, course)
            try:
                self._delete(_where(course, None, time.time() - self.days * DAY, None, False))
            except DatabaseUnavailable:  # a log that cannot be written can still be read; expired rows wait
                log.warning("expired question-log records not deleted: %s cannot be written", self.where)

    # -- writing ----------------------------------------------------------------------------------------------------
    def record(
        self,
        course: str,
        user: str,
        answer: Any,
        question: str | None = None,
        follow_up: bool = False,
        vector: np.ndarray | None = None,
        document: Callable[[str], Any] | None = None,
        when: float | None = None,
        rows: Sequence[Any] | None = None,
        review_id: str | None = None,
    ) -> str:
        """Log one answered question (an `Answer`) asked by user `user`; returns the record's id at once (the write
        happens in the background). `rows`: the answer's attribution (`explain.attribution_rows`), or else
        `document(page_id)`, the page, to compute it; `review_id`: the reviewed answer it was given, if one was."""
        if vector is None and self.embed is None:  # an atlas without a model (a test's fake): nothing to log
            log.warning("question not logged: no vector and no embedder")
            return ""
        rid = uuid.uuid4().hex
        t = time.time() if when is None else when
        self._submit(
            lambda: self._write(
                course,
                rid,
                self.student(user),
                answer,
                question,
                follow_up,
                vector,
                document,
                t,
                rows=rows,
                review_id=review_id,
            )
        )
        return rid

    def rate(self, course: str, rid: str, helpful: bool | None = None, comment: str | None = None) -> None:
        """Set the rating and/or comment of record `rid` (in the background, after the record itself)."""
        self._submit(lambda: self._rate(course, rid, helpful, comment))

    def flush(self) -> None:
        """Wait until every write submitted so far is stored."""
        if self._thread is not None and threading.current_thread() is not self._thread:
            self._queue.join()

    def close(self) -> None:
        """Store what is pending, stop the writer and close the connections (the log can still be used: a new writer
        starts, and connections are opened again)."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(_STOP)
            thread.join()
        self._reconnect()

    def _submit(self, job: Callable[[], None]) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="atlas-qa-log", daemon=True)
                self._thread.start()
            self._queue.put(job)

    def _run(self) -> None:
        while True:
            try:
                job = self._queue.get(timeout=RETRY_SECONDS if self._kept else None)
            except queue.Empty:
                self._write_kept()
                continue
            try:
                if job is _STOP:
                    self._write_kept()
                    if self._kept:
                        log.error("%s: these records are lost as the app stops.", self.health())
                    return
                self._keep(job)
                self._write_kept()
            finally:
                self._queue.task_done()

    def _keep(self, job: Callable[[], None]) -> None:
        with self._lock:
            self._kept.append(job)
            if len(self._kept) > MAX_KEPT:
                self._kept.popleft()
                self._dropped += 1

    def _write_kept(self) -> None:
        """Store the kept writes, oldest first, until one fails because the log cannot be written."""
        while self._kept:
            try:
                self._kept[0]()
            except CANNOT_WRITE as exc:
                self._reconnect()
                first = not self._problem
                with self._lock:
                    self._problem = f"The question log {self.where} cannot be written ({_reason(exc)})"
                if first:
                    log.warning("%s", self.health())
                return
            except Exception:  # noqa: BLE001 (a bug in one record must not stop the others; the traceback is logged)
                log.exception("writing to the question log failed")
            with self._lock:
                self._kept.popleft()
        if self._problem:
            with self._lock:
                self._problem, self._dropped = "", 0
            self._reconnect()
            log.warning("The question log %s can be written again: every kept record is stored.", self.where)

    def _write(
        self,
        course: str,
        rid: str,
        student: str,
        answer: Any,
        question: str | None,
        follow_up: bool,
        vector: np.ndarray | None,
        document: Callable[[str], Any] | None,
        t: float,
        helpful: bool | None = None,
        comment: str = "",
        rows: Sequence[Any] | None = None,
        review_id: str | None = None,
    ) -> None:
        from .record import answer_document, answer_metadata

        meta = answer_metadata(answer, question, student, follow_up, t, document, rows)
        meta.update(helpful=NO_RATING if helpful is None else int(helpful), comment=comment)
        searched = meta["searched"]
        if vector is None:
            if self.embed is None:
                raise AtlasError("The question log needs an embedder to store a question without its vector.")
            vector = self.embed([searched])[0]
        row = {**meta, "id": rid, "course": course, "review_id": review_id}
        heavy = (rid, answer_document(answer), np.asarray(vector, dtype=np.float32).tobytes())
        self.ready(course)
        with self.db() as db:  # one transaction: both rows or neither
            upsert(db, questions, row)
            upsert(db, answers, dict(zip(("id", "answer", "vector"), heavy)))

    def _rate(self, course: str, rid: str, helpful: bool | None, comment: str | None) -> None:
        self.ready(course)
        changes: dict[str, Any] = {"rated_at": time.time()}
        if helpful is not None:
            changes["helpful"] = int(helpful)
        if comment is not None:
            changes["comment"] = comment
        with self.db() as db:
            found = db.execute(
                sa.update(questions).where(questions.c.id == rid, questions.c.course == course).values(changes)
            ).rowcount
        if not found:
            log.warning("rating of an unknown question-log record %s in %s ignored", rid, course)

    def add_rated(
        self,
        course: str,
        user: str,
        answer: Any,
        question: str,
        helpful: bool,
        comment: str = "",
        rid: str | None = None,
        t: float | None = None,
        vector: np.ndarray | None = None,
    ) -> str:
        """Log an answer together with its rating (a rating that names no logged record, or an imported one; user ""
        = unknown), written now rather than in the background. Returns the record's id."""
        rid = rid or uuid.uuid4().hex
        when = time.time() if t is None else t
        student = self.student(user) if user else ""

        def write() -> None:
            self._write(course, rid, student, answer, question, False, vector, None, when, helpful, comment)

        if self._kept:  # earlier writes wait: this one goes after them
            self._submit(write)
            return rid
        try:
            write()
        except CANNOT_WRITE:
            self._reconnect()
            self._submit(write)  # kept in memory by the writer, which says why
        return rid

    # -- reading ----------------------------------------------------------------------------------------------------
    def entries(
        self,
        course: str,
        since: float | None = None,
        until: float | None = None,
        student: str | None = None,
        rated_only: bool = False,
        missed_only: bool = False,
    ) -> list[LogEntry]:
        """The course's records from `since` (inclusive) to `until` (exclusive), oldest first; `rated_only`: the rated
        ones; `missed_only`: the refused and thumbs-down ones (what gaps are made of)."""
        self.ready(course)
        where = _where(course, since, until, student, rated_only)
        if missed_only:
            where = where & ((questions.c.refused != 0) | (questions.c.helpful == 0))
        with self.db() as db:
            rows = db.execute(sa.select(*COLUMNS).where(where).order_by(questions.c.t, questions.c.id)).all()
        return [entry_from_row(course, row) for row in rows]

    def vectors(self, course: str, ids: Sequence[str]) -> np.ndarray:
        """The question vectors of records `ids`, in that order (rows of a float32 matrix)."""
        found = dict(self._by_ids(course, answers.c.vector, ids))
        if not found:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([np.frombuffer(found[i], dtype=np.float32) for i in ids])

    def details(self, course: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Record id -> {"answer", "citations", "closest_pages"} (the heavy fields)."""
        return {i: json.loads(doc) for i, doc in self._by_ids(course, answers.c.answer, ids)}

    def _by_ids(self, course: str, column: sa.ColumnElement[Any], ids: Sequence[str]) -> list[tuple[str, Any]]:
        self.ready(course)
        out: list[tuple[str, Any]] = []
        # by the primary key; the heavy columns live in `answers`, so the counts never scan them
        found = sa.select(questions.c.id, questions.c.course, column).select_from(
            questions.outerjoin(answers, answers.c.id == questions.c.id)
        )
        with self.db() as db:
            if self.path is None:  # PostgreSQL: all ids as one array parameter (900 placeholders plan slowly)
                from sqlalchemy.dialects.postgresql import ARRAY

                listed = sa.bindparam("ids", list(ids), type_=ARRAY(sa.Text))
                return [(i, v) for i, c, v in db.execute(found.where(questions.c.id == sa.any_(listed))) if c == course]
            for i in range(0, len(ids), READ_BATCH):
                chunk = list(ids[i : i + READ_BATCH])
                out += [(i, value) for i, c, value in db.execute(found.where(questions.c.id.in_(chunk))) if c == course]
        return out

    def review_uses(self, course: str) -> dict[str, tuple[int, int, int]]:
        """Review id -> (answers given with it, rated helpful, rated not helpful) in the course."""
        self.ready(course)
        rated = [sa.func.sum(sa.case((questions.c.helpful == v, 1), else_=0)) for v in (1, 0)]
        with self.db() as db:
            rows = db.execute(
                sa.select(questions.c.review_id, sa.func.count(), *rated)
                .where(questions.c.course == course, questions.c.review_id.is_not(None))
                .group_by(questions.c.review_id)
            ).all()
        return {str(r[0]): (int(r[1]), int(r[2] or 0), int(r[3] or 0)) for r in rows}

    def student_of(self, course: str, rid: str) -> str | None:
        """The pseudonym that asked record `rid` ("" unknown), or None when the course has no such record."""
        found = self._by_ids(course, questions.c.student, [rid])
        return str(found[0][1]) if found else None

    def count(self, course: str) -> int:
        self.ready(course)
        with self.db() as db:
            return int(db.execute(sa.select(sa.func.count()).where(questions.c.course == course)).scalar_one())

    # -- data requests ----------------------------------------------------------------------------------------------
    def purge(self, course: str, before: float | None = None, student: str | None = None) -> int:
        """Delete the course's records older than `before` and/or of `student`; returns how many."""
        if before is None and student is None:
            raise AtlasError("Say what to purge: --before DATE and/or --student ID.")
        self.flush()
        self.ready(course)
        return self._delete(_where(course, None, before, student, False))

    def _delete(self, where: sa.ColumnElement[bool]) -> int:
        with self.db() as db:
            db.execute(sa.delete(answers).where(answers.c.id.in_(sa.select(questions.c.id).where(where))))
            return int(db.execute(sa.delete(questions).where(where)).rowcount)

    def courses(self) -> list[str]:
        """Courses that have questions in this log."""
        if self.path is not None and not self.path.exists():
            return []
        with self.db() as db:
            return list(db.execute(sa.select(questions.c.course).distinct().order_by(questions.c.course)).scalars())

    def resolve_student(self, who: str, course: str) -> str:
        """The pseudonym a data request names: `name:NAME`, `pseudonym:ID`, or either bare. A bare 16 hex digits is
        the user of that name when the course's log holds their records and none under it as a pseudonym (a user
        name may be 16 hex digits too); both at once is a question back (AtlasError)."""
        kind, _, value = who.partition(":")
        if kind == "name" and value:
            return self.student(value)
        if kind == "pseudonym" and value:
            return value
        named = self.student(who)
        if not re.fullmatch(r"[0-9a-f]{16}", who):
            return named
        as_name, as_pseudonym = self._asked(course, named), self._asked(course, who)
        if as_name and as_pseudonym:
            raise AtlasError(
                f"{who!r} is the user name of one student and the pseudonym of another in {course}: write "
                f"--student name:{who} or --student pseudonym:{who}."
            )
        return named if as_name else who

    def _asked(self, course: str, student: str) -> bool:
        """Whether the course's log holds a record of `student` (a pseudonym)."""
        self.ready(course)
        with self.db() as db:
            found = db.execute(
                sa.select(questions.c.id).where(questions.c.course == course, questions.c.student == student).limit(1)
            ).first()
        return found is not None


def _file_id(path: Path) -> tuple[int, int] | None:
    """What tells one file from another at `path` (device, inode); None when there is none."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _where(
    course: str, since: float | None, until: float | None, student: str | None, rated: bool
) -> sa.ColumnElement[bool]:
    """The condition that picks the course's records in a period, of a student, rated."""
    clauses = [questions.c.course == course]
    if since is not None:
        clauses.append(questions.c.t >= since)
    if until is not None:
        clauses.append(questions.c.t < until)
    if student:
        clauses.append(questions.c.student == student)
    if rated:
        clauses.append(questions.c.helpful >= 0)
    return sa.and_(*clauses)


def _reason(exc: BaseException) -> str:
    """Why a write failed, in the database's (or the file system's) own words."""
    return str(getattr(exc, "reason", exc))
