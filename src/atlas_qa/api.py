"""The versioned REST API (`/api/v1`): ask and rate for course members; feedback, page parses and re-indexing for
the course's instructors. Every route checks the caller's role and course on the server (docs/api.md)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from .config import Settings
from .conversation import history_from_json
from .core import MAX_QUESTION_CHARS, Atlas
from .errors import AtlasError, IndexNotFoundError, QuestionError
from .explain import page_parse
from .feedback import FeedbackStore
from .insight import QuestionLog, build_insights, insights_json
from .types import Answer, answer_from_json, answer_json
from .users import User

FACETS = ("course", "topic", "chapter")


class Turn(BaseModel):
    """An earlier question of the conversation and the answer it got."""

    question: str = Field(max_length=MAX_QUESTION_CHARS)
    answer: dict[str, Any] | str | None = Field(
        default=None, description="the answer it got: the `/ask` answer object (best), its text, or nothing"
    )


class AskBody(BaseModel):
    question: str = Field(description="the question (at most 1,000 characters)")
    course: str | None = Field(default=None, description="the course to ask in (default: the app's course)")
    filters: dict[str, str] | None = Field(default=None, description="page filters: course, topic, chapter")
    history: list[Turn] | None = Field(default=None, max_length=20, description="earlier turns, oldest first")


class FeedbackBody(BaseModel):
    question: str = Field(max_length=MAX_QUESTION_CHARS, description="the question as asked")
    answer: dict[str, Any] = Field(description="the answer as /ask returned it")
    helpful: bool
    comment: str = Field(default="", max_length=2000)
    course: str | None = None
    answer_id: str | None = Field(default=None, description="the `answer_id` /ask returned: the rating goes onto it")


class Courses:
    """One Atlas per served course, sharing one model, and one question log (ratings included) for them all."""

    def __init__(self, settings: Settings, first: Atlas | None = None) -> None:
        self.settings = settings
        self.names = settings.served_courses()
        self._atlases: dict[str, Atlas] = {settings.course: first} if first else {}
        self._lock = threading.Lock()
        self.ingest_lock = threading.Lock()
        self._log: QuestionLog | None = None

    @property
    def log(self) -> QuestionLog:
        if self._log is None:
            self._log = QuestionLog.open(self.settings, self.atlas(self.settings.course))
        return self._log

    def atlas(self, course: str) -> Atlas:
        with self._lock:
            if course not in self._atlases:
                first = next(iter(self._atlases.values()), None)
                embedder = first.embedder if first else None
                self._atlases[course] = Atlas(self.settings.with_(course=course), embedder)
            return self._atlases[course]

    def feedback(self, course: str) -> FeedbackStore:
        return FeedbackStore(self.log, course)


def current_user(request: Request) -> User:
    user = getattr(request.state, "user", None)
    if user is None:
        raise HTTPException(401, "Sign in, or send Authorization: Bearer <token>.")
    return user  # type: ignore[no-any-return]


def member(courses: Courses, user: User, course: str | None) -> str:
    """The course asked for, if the user belongs to it (403 otherwise, whether or not it exists; 404 if not served)."""
    course = course or courses.settings.course
    if not user.in_course(course):
        raise HTTPException(403, f"You are not in the course {course!r}.")
    if course not in courses.names:
        raise HTTPException(404, f"This app does not serve the course {course!r}.")
    return course


def instructor(courses: Courses, user: User, course: str | None) -> str:
    course = member(courses, user, course)
    if not user.teaches(course):
        raise HTTPException(403, f"Only the instructors of {course!r} may do this.")
    return course


def _error(exc: AtlasError) -> HTTPException:
    if isinstance(exc, QuestionError):
        return HTTPException(422, str(exc))
    if isinstance(exc, IndexNotFoundError):
        return HTTPException(503, str(exc))
    return HTTPException(400, str(exc))


def answer_of(data: dict[str, Any], question: str) -> Answer:
    """An Answer as /ask returned it (to store a rating of it)."""
    try:
        return answer_from_json({"question": question, **data})
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise HTTPException(422, f"The answer is not in the shape /ask returns ({exc}).") from None


def history_of(turns: list[Turn]) -> list[Any]:
    """The conversation as `Atlas.ask` takes it: an answer given as text becomes an answer without sources."""
    items = [
        {"question": t.question, "answer": {"answer": t.answer} if isinstance(t.answer, str) else t.answer}
        for t in turns
    ]
    return history_from_json(items)


def router(courses: Courses) -> APIRouter:
    """The /api/v1 routes over the served courses."""
    api = APIRouter(prefix="/api/v1", tags=["atlas-qa"])
    who: Callable[..., User] = current_user

    @api.post("/ask", summary="Answer a question from the course material, with its sources")
    def ask(body: AskBody, user: User = Depends(who)) -> dict[str, Any]:  # noqa: B008
        course = member(courses, user, body.course)
        filters = {k: v for k, v in (body.filters or {}).items() if v}
        if set(filters) - set(FACETS):
            raise HTTPException(422, f"Filters may only be {', '.join(FACETS)}.")
        atlas = courses.atlas(course)
        try:
            answer = atlas.ask(body.question, filters=filters or None, history=history_of(body.history or []))
        except AtlasError as exc:
            raise _error(exc) from None
        vector = atlas.question_vector(answer.searched or answer.question)  # cached by retrieval: not encoded again
        answer_id = courses.log.record(
            course, user.name, answer, follow_up=bool(body.history), vector=vector, document=atlas.index.document
        )
        return {**answer_json(answer, atlas.settings.corpus), "answer_id": answer_id}

    @api.post("/feedback", summary="Rate an answer (and comment on it)")
    def add_feedback(body: FeedbackBody, user: User = Depends(who)) -> dict[str, Any]:  # noqa: B008
        course = member(courses, user, body.course)
        store = courses.feedback(course)
        if body.answer_id:
            courses.log.flush()
            if courses.log.student_of(course, body.answer_id) != courses.log.student(user.name):
                raise HTTPException(404, f"No answer {body.answer_id!r} of yours in {course!r}.")
            store.update(body.answer_id, body.helpful, body.comment)
            return {"id": body.answer_id, "course": course}
        answer = answer_of(body.answer, body.question)
        feedback_id = store.add(body.question, answer, body.helpful, body.comment, user=user.name)
        return {"id": feedback_id, "course": course}

    @api.get("/feedback", summary="Every rating of the course, newest first (instructors)")
    def list_feedback(course: str | None = None, user: User = Depends(who)) -> list[dict[str, Any]]:  # noqa: B008
        course = instructor(courses, user, course)
        return [f.to_json() for f in courses.feedback(course).list()]

    @api.get("/insights", summary="What the course's students ask and where the material falls short (instructors)")
    def insights(
        course: str | None = None,
        since: str | None = None,
        until: str | None = None,
        user: User = Depends(who),  # noqa: B008
    ) -> dict[str, Any]:
        """Questions, refusals, students, pages (most asked first), gaps (largest first), confusions and cited works
        between `since` and `until` (ISO dates, both included); see docs/insight.md."""
        course = instructor(courses, user, course)
        try:
            return insights_json(build_insights(courses.atlas(course), courses.log, course, since, until))
        except AtlasError as exc:
            raise _error(exc) from None

    @api.get("/attribution/{page_id:path}", summary="A page as parsed: quotations, citations, references")
    def attribution(page_id: str, course: str | None = None, user: User = Depends(who)) -> dict[str, Any]:  # noqa: B008
        course = instructor(courses, user, course)
        try:
            doc = courses.atlas(course).index.document(page_id)
        except (AtlasError, KeyError):
            raise HTTPException(404, f"No page {page_id!r} in {course!r}.") from None
        return page_parse(doc).to_json()

    @api.post("/reindex", summary="Read the course's corpus folder again and sync the index (instructors)")
    def reindex(course: str | None = None, user: User = Depends(who)) -> dict[str, Any]:  # noqa: B008
        course = instructor(courses, user, course)
        if course != courses.settings.course:  # the corpus folder is this app's course's; never ingest it elsewhere
            raise HTTPException(400, f"Re-index {course!r} with `atlas-qa ingest --course {course}` (its own folder).")
        if not courses.ingest_lock.acquire(blocking=False):
            raise HTTPException(409, "A re-index is already running; try again when it has finished.")
        try:
            return courses.atlas(course).ingest().to_json()  # type: ignore[no-any-return]
        except AtlasError as exc:
            raise _error(exc) from None
        finally:
            courses.ingest_lock.release()

    @api.get("/me", summary="Who you are signed in as")
    def me(user: User = Depends(who)) -> dict[str, Any]:  # noqa: B008
        return {"name": user.name, "role": user.role, "courses": list(user.courses)}

    return api
