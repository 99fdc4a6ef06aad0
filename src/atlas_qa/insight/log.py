"""The question log: every question asked in a course, who asked (a pseudonym), what was searched and cited, how it
was rated, and the question's embedding; kept in the course's store, so every app replica sees it.

Storage: one Chroma collection per course, `atlas-qa.log.<course>`, in the same store as the index (the embedded
folder, or the `chroma run` server replicas share). A record's metadata holds the light fields the insight report
reads (time, pseudonym, question as typed and as searched, refused, follow-up, cited pages and passages, cited works,
rating, comment); its document holds the heavy ones (the answer text and its citations) that only the feedback list
and exports read; its embedding is the searched question's vector, reused from retrieval.

Writes go through one background thread per log (an ask returns before its record is written, in the order made);
`flush()` waits for them and `close()` is called on shutdown. A process killed hard loses the records of its last
few milliseconds, never the log (see docs/insight-storage.md).

Students are pseudonymous: `student` is HMAC-SHA256(key, user name), hex, 16 digits; the key is `Settings.log_key`
or the file `log.key` beside the users db, created on first use (replicas share it as they share the users db).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import queue
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ..config import Settings
from ..errors import AtlasError

log = logging.getLogger(__name__)

PREFIX = "atlas-qa.log."
KEY_FILE = "log.key"
NO_RATING = -1
READ_BATCH = 5000
DAY = 86400.0
_STOP = object()


@dataclass(frozen=True)
class LogEntry:
    """One logged question (the light fields; `details` reads the answer and citations)."""

    id: str
    course: str
    t: float  # seconds since the epoch
    student: str  # pseudonym
    question: str  # as typed
    searched: str  # as retrieval was asked (a follow-up made standalone)
    refused: bool
    follow_up: bool
    pages: tuple[str, ...]  # cited pages, in citation order
    passages: tuple[str, ...]  # cited chunk ids
    works: tuple[tuple[str, str, str], ...]  # (cited work, full reference or "", page id) per attribution row
    helpful: bool | None  # None: not rated
    comment: str

    @property
    def day(self) -> str:
        return iso_day(self.t)

    def to_json(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
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
        raise AtlasError(f"The {what} {text!r} is not a date like 2026-01-31.") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()


def pseudonym(key: bytes, name: str) -> str:
    """The student id an instructor sees for user `name` (16 hex digits of HMAC-SHA256)."""
    return hmac.new(key, name.encode("utf-8"), hashlib.sha256).hexdigest()[:16]


def student_label(student: str) -> str:
    """'student 7f3a': how the views name a pseudonym."""
    return f"student {student[:4]}"


def log_key(settings: Settings) -> bytes:
    """The pseudonym key: `settings.log_key`, else `log.key` beside the users db (made once, readable by us only)."""
    if settings.log_key:
        return settings.log_key.encode("utf-8")
    path = Path(settings.users_db or settings.index_dir).parent / KEY_FILE  # type: ignore[arg-type]
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # another process may be writing it this very moment
            text = path.read_text(encoding="ascii").strip()
            if text:
                return text.encode("ascii")
            time.sleep(0.02)
        raise AtlasError(f"The question-log key file {path} is empty: delete it to make a new one.") from None
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_hex(32))
    return path.read_text(encoding="ascii").strip().encode("ascii")


def log_name(course: str) -> str:
    return PREFIX + course


class QuestionLog:
    """The question logs of the courses of one store. Thread-safe; writes happen in one background thread.

    `client`: a Chroma client (default: `index.make_client(settings)`, made on first use); `embed`: texts -> unit
    vectors, for records written without a vector (an imported rating); `key`: the pseudonym key.
    """

    def __init__(
        self,
        settings: Settings,
        embed: Callable[[Sequence[str]], np.ndarray] | None = None,
        client: Any = None,
        key: bytes | None = None,
    ) -> None:
        self.settings = settings
        self.embed = embed
        self.days = settings.log_days
        self._client = client
        self._key = key
        self._collections: dict[str, Any] = {}
        self._lock = threading.RLock()
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread: threading.Thread | None = None

    @classmethod
    def open(cls, settings: Settings, atlas: Any = None) -> QuestionLog:
        """The log of the store `settings` name; with `atlas`, question vectors come from its cache (the vector
        retrieval just computed is reused, not encoded again)."""
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
    @property
    def client(self) -> Any:
        if self._client is None:
            from ..index import make_client

            self._client = make_client(self.settings)
        return self._client

    def collection(self, course: str) -> Any:
        """The course's log collection (created, old feedback imported and expired records deleted on first use)."""
        with self._lock:
            if course not in self._collections:
                from ..index import collection_name

                collection_name(course)  # the same rule for course names as the index
                coll = self.client.get_or_create_collection(
                    log_name(course), configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
                )
                self._collections[course] = coll
                from .migrate import import_feedback

                import_feedback(self, course)
                self._delete(coll, _where(None, time.time() - self.days * DAY, None, False))
            return self._collections[course]

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
    ) -> str:
        """Log one answered question (an `Answer`) asked by user `user`; returns the record's id at once (the write
        happens in the background). `document(page_id)`: the page, to attribute the cited works (explain.py)."""
        rid = uuid.uuid4().hex
        t = time.time() if when is None else when
        self._submit(
            lambda: self._write(course, rid, self.student(user), answer, question, follow_up, vector, document, t)
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
        """Store what is pending and stop the writer (the log can still be used: a new writer starts)."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(_STOP)
            thread.join()

    def _submit(self, job: Callable[[], None]) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="atlas-qa-log", daemon=True)
                self._thread.start()
            self._queue.put(job)

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is _STOP:
                    return
                job()
            except Exception:  # noqa: BLE001 (a failed write must not stop the log; the traceback goes to the log)
                log.exception("writing to the question log failed")
            finally:
                self._queue.task_done()

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
    ) -> None:
        from .record import answer_document, answer_metadata

        meta = answer_metadata(answer, question, student, follow_up, t, document)
        meta.update(helpful=NO_RATING if helpful is None else int(helpful), comment=comment)
        searched = meta["searched"]
        if vector is None:
            if self.embed is None:
                raise AtlasError("The question log needs an embedder to store a question without its vector.")
            vector = self.embed([searched])[0]
        self.collection(course).upsert(
            ids=[rid],
            embeddings=[np.asarray(vector, dtype=np.float32)],
            metadatas=[meta],
            documents=[answer_document(answer)],
        )

    def _rate(self, course: str, rid: str, helpful: bool | None, comment: str | None) -> None:
        meta: dict[str, Any] = {"rated_at": time.time()}
        if helpful is not None:
            meta["helpful"] = int(helpful)
        if comment is not None:
            meta["comment"] = comment
        coll = self.collection(course)
        if coll.get(ids=[rid], include=[])["ids"]:
            coll.update(ids=[rid], metadatas=[meta])
        else:
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
        self._write(course, rid, student, answer, question, False, vector, None, when, helpful, comment)
        return rid

    # -- reading ----------------------------------------------------------------------------------------------------
    def entries(
        self,
        course: str,
        since: float | None = None,
        until: float | None = None,
        student: str | None = None,
        rated_only: bool = False,
    ) -> list[LogEntry]:
        """The course's records from `since` (inclusive) to `until` (exclusive), oldest first."""
        where = _where(since, until, student, rated_only)
        coll = self.collection(course)
        out: list[LogEntry] = []
        offset = 0
        while True:
            got = coll.get(where=where, include=["metadatas"], limit=READ_BATCH, offset=offset)
            out += [_entry(course, i, m) for i, m in zip(got["ids"], got["metadatas"] or [])]
            if len(got["ids"]) < READ_BATCH:
                break
            offset += READ_BATCH
        out.sort(key=lambda e: e.t)
        return out

    def vectors(self, course: str, ids: Sequence[str]) -> np.ndarray:
        """The question vectors of records `ids`, in that order (rows of a float32 matrix)."""
        if not ids:
            return np.zeros((0, 0), dtype=np.float32)
        coll = self.collection(course)
        found: dict[str, np.ndarray] = {}
        for i in range(0, len(ids), READ_BATCH):
            got = coll.get(ids=list(ids[i : i + READ_BATCH]), include=["embeddings"])
            found.update(zip(got["ids"], got["embeddings"]))
        return np.stack([np.asarray(found[i], dtype=np.float32) for i in ids])

    def details(self, course: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Record id -> {"answer", "citations"} (the heavy fields)."""
        out: dict[str, dict[str, Any]] = {}
        coll = self.collection(course)
        for i in range(0, len(ids), READ_BATCH):
            got = coll.get(ids=list(ids[i : i + READ_BATCH]), include=["documents"])
            out.update((k, json.loads(d or "{}")) for k, d in zip(got["ids"], got["documents"] or []))
        return out

    def student_of(self, course: str, rid: str) -> str | None:
        """The pseudonym that asked record `rid` ("" unknown), or None when the course has no such record."""
        got = self.collection(course).get(ids=[rid], include=["metadatas"])
        return str((got["metadatas"] or [{}])[0].get("student", "")) if got["ids"] else None

    def count(self, course: str) -> int:
        return int(self.collection(course).count())

    # -- data requests ----------------------------------------------------------------------------------------------
    def purge(self, course: str, before: float | None = None, student: str | None = None) -> int:
        """Delete the course's records older than `before` and/or of `student`; returns how many."""
        if before is None and student is None:
            raise AtlasError("Say what to purge: --before DATE and/or --student ID.")
        self.flush()
        return self._delete(self.collection(course), _where(None, before, student, False))

    @staticmethod
    def _delete(coll: Any, where: dict[str, Any] | None) -> int:
        ids = coll.get(where=where, include=[])["ids"]
        for i in range(0, len(ids), READ_BATCH):
            coll.delete(ids=ids[i : i + READ_BATCH])
        return len(ids)

    def courses(self) -> list[str]:
        """Courses that have a log in this store."""
        names = [c if isinstance(c, str) else c.name for c in self.client.list_collections()]
        return sorted(n[len(PREFIX) :] for n in names if n.startswith(PREFIX))

    def resolve_student(self, who: str) -> str:
        """A pseudonym given as itself (16 hex digits) or as the user's name."""
        return who if len(who) == 16 and all(ch in "0123456789abcdef" for ch in who) else self.student(who)


def _where(since: float | None, until: float | None, student: str | None, rated: bool) -> dict[str, Any] | None:
    clauses: list[dict[str, Any]] = []
    if since is not None:
        clauses.append({"t": {"$gte": float(since)}})
    if until is not None:
        clauses.append({"t": {"$lt": float(until)}})
    if student:
        clauses.append({"student": student})
    if rated:
        clauses.append({"helpful": {"$gte": 0}})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _entry(course: str, rid: str, m: dict[str, Any]) -> LogEntry:
    helpful = int(m.get("helpful", NO_RATING))
    return LogEntry(
        id=rid,
        course=course,
        t=float(m.get("t", 0.0)),
        student=str(m.get("student", "")),
        question=str(m.get("question", "")),
        searched=str(m.get("searched", "")),
        refused=bool(m.get("refused", False)),
        follow_up=bool(m.get("follow_up", False)),
        pages=tuple(json.loads(m.get("pages") or "[]")),
        passages=tuple(json.loads(m.get("passages") or "[]")),
        works=tuple(tuple(w) for w in json.loads(m.get("works") or "[]")),  # type: ignore[misc]
        helpful=None if helpful < 0 else bool(helpful),
        comment=str(m.get("comment", "")),
    )


def export_entries(entries: Iterable[LogEntry]) -> list[dict[str, Any]]:
    """The records as JSON objects (what `atlas-qa log export` prints)."""
    return [e.to_json() for e in entries]
