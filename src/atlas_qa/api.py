"""The versioned REST API (`/api/v1`): ask and rate for course members; feedback, insight, page parses and
re-indexing for the course's instructors. Every route checks the caller's role and course on the server
(docs/api.md).

The OpenAPI document is the contract: every request and response is a pydantic model (or a dataclass of `types.py`),
every error a route can end with is listed with the one error shape (`errors.error_body`), and the two ways to sign
in are its security schemes. Requests are strict: `"helpful": "yes"` is refused, not read as true.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyCookie, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from .access import SESSION_COOKIE
from .asking import Courses
from .core import MAX_QUESTION_CHARS, check_question
from .errors import (
    AtlasError,
    BadRequestError,
    BusyError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    NotSignedInError,
    QuestionError,
    error_body,
)
from .explain import PageParse, page_parse
from .feedback import MAX_COMMENT_CHARS, Feedback
from .insight import build_insights, insights_json
from .types import Answer, AnswerSentence, Citation, answer_from_json, answer_json
from .users import ROLES, User

log = logging.getLogger(__name__)

MAX_FILTER_CHARS = 200
MAX_HISTORY = 20
MAX_COURSE_CHARS = 100
MAX_ANSWER_CHARS = 20_000


# -- the one error shape ----------------------------------------------------------------------------------------------
class ErrorReply(BaseModel):
    """Every 4xx and 5xx: one sentence, a stable code and the status (`errors.error_body`)."""

    error: str = Field(description="what went wrong and what to do, in one sentence")
    code: str = Field(description="a stable name: invalid_question, not_signed_in, forbidden, index_not_found, …")
    status: int


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of a route: these statuses, each with the one error shape."""
    why = {
        400: "a request this server cannot serve as sent",
        401: "no credentials, or a wrong or expired one",
        403: "not in the course, or a role that may not do this",
        404: "no such course here, page or record",
        409: "already running",
        413: "the body is larger than the server takes",
        422: "an invalid question, body or parameter",
        500: "an internal error (logged)",
        503: "the course has no index yet, or its store does not answer",
    }
    return {s: {"model": ErrorReply, "description": why[s]} for s in (401, 413, 422, 500, *statuses)}


def _sentence(error: dict[str, Any]) -> str:
    """One sentence for a pydantic validation error: where, and what was wrong."""
    where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path"))
    message = str(error.get("msg", "is not valid")).rstrip(".")
    if error.get("type") == "missing":
        return f"The field {where!r} is required." if where else "The request needs a JSON body."
    if error.get("type") == "extra_forbidden":
        return f"The field {where!r} is not one this route takes."
    if error.get("type") == "json_invalid":
        return "The body is not valid JSON."
    if where in ("since", "until") and error.get("type") == "string_pattern_mismatch":
        return f"The {where} {error.get('input')!r} is not a date like 2026-01-31."
    return f"{where}: {message}." if where else f"The body: {message}."


def install_error_handlers(app: FastAPI) -> None:
    """Every error of the app's own routes in the one shape, with `AtlasError.status` the only mapping."""

    async def atlas_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AtlasError)
        return JSONResponse(error_body(exc), status_code=exc.status)

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = exc.errors()
        error: AtlasError = InvalidInputError(_sentence(errors[0]) if errors else "The request is not valid.")
        if errors and tuple(errors[0].get("loc", ())) == ("body", "question") and errors[0].get("type") != "missing":
            try:  # a question that is not one: the sentence (and code) every way in gives (`core.check_question`)
                check_question(errors[0].get("input"))
            except QuestionError as bad:
                error = bad
        return JSONResponse(error_body(error), status_code=422)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 400:  # FastAPI's "There was an error parsing the body": a body that is not JSON
            return JSONResponse(error_body(InvalidInputError("The body is not valid JSON.")), status_code=422)
        sentence = exc.detail if isinstance(exc.detail, str) else "The request cannot be served."
        return JSONResponse(error_body(sentence, exc.status_code), exc.status_code, headers=exc.headers)

    async def internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path, exc_info=exc)
        return JSONResponse(error_body(exc, 500), status_code=500)

    app.add_exception_handler(AtlasError, atlas_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, internal)


# -- requests ---------------------------------------------------------------------------------------------------------
class Strict(BaseModel):
    """A request body: types as documented (no "yes" for true, no 1 for a text), no field the route does not take."""

    model_config = ConfigDict(strict=True, extra="forbid")


QUESTION: dict[str, Any] = {
    "maxLength": MAX_QUESTION_CHARS,
    "minLength": 1,
    "pattern": r"\w",
}  # checked by `core.check_question`


class Filters(Strict):
    """Page filters (page metadata; "" or absent: any)."""

    course: str | None = Field(default=None, max_length=MAX_FILTER_CHARS)
    topic: str | None = Field(default=None, max_length=MAX_FILTER_CHARS)
    chapter: str | None = Field(default=None, max_length=MAX_FILTER_CHARS)


class CiteIn(BaseModel):
    model_config = ConfigDict(strict=True)
    label: str
    reference: str = ""


class CitationIn(BaseModel):
    """A citation as `/ask` returned it; what is missing takes an empty value."""

    model_config = ConfigDict(strict=True)
    n: int | None = None
    page_id: str = ""
    title: str = ""
    source: str = ""
    section: str = ""
    speaker: str = ""
    pages: str = ""
    cites: list[CiteIn] = []
    text: str = ""
    score: float = 0.0
    start: int = 0
    end: int = 0
    speaker_reference: str = ""
    chain: str = ""


class SentenceIn(BaseModel):
    model_config = ConfigDict(strict=True)
    text: str
    n: int
    page_id: str = ""
    start: int = -1
    end: int = -1


class AnswerIn(BaseModel):
    """An answer as `/ask` returned it (its other fields are taken and ignored): at least its text."""

    model_config = ConfigDict(strict=True)
    answer: str = Field(max_length=MAX_ANSWER_CHARS)
    refused: bool = False
    generated: bool = False
    dropped: int = 0
    searched: str = Field(default="", max_length=MAX_QUESTION_CHARS)
    closest_pages: list[str] = []
    sentences: list[SentenceIn] = []
    citations: list[CitationIn] = Field(default=[], max_length=100)

    def answer_of(self, question: str) -> Answer:
        return answer_from_json({"question": question, **self.model_dump()})


class Turn(Strict):
    """An earlier question of the conversation and the answer it got."""

    question: str = Field(max_length=MAX_QUESTION_CHARS)
    answer: AnswerIn | str | None = Field(
        default=None, description="the answer it got: the `/ask` answer object (best), its text, or nothing"
    )


class AskBody(Strict):
    question: str = Field(description="the question", json_schema_extra=QUESTION)
    course: str | None = Field(
        default=None, max_length=MAX_COURSE_CHARS, description="the course to ask in (default: the app's course)"
    )
    filters: Filters | None = Field(default=None, description="page filters: course, topic, chapter")
    history: list[Turn] | None = Field(default=None, max_length=MAX_HISTORY, description="earlier turns, oldest first")


class FeedbackBody(Strict):
    question: str = Field(max_length=MAX_QUESTION_CHARS, description="the question as asked")
    answer: AnswerIn = Field(description="the answer as /ask returned it")
    helpful: bool
    comment: str = Field(default="", max_length=MAX_COMMENT_CHARS)
    course: str | None = Field(default=None, max_length=MAX_COURSE_CHARS)
    answer_id: str | None = Field(
        default=None, max_length=64, description="the `answer_id` /ask returned: the rating goes onto it"
    )


# -- responses --------------------------------------------------------------------------------------------------------
class AskReply(BaseModel):
    """The `ask --json` answer, with the id of its question-log record."""

    question: str
    searched: str = Field(description="what was searched: a follow-up made to stand alone")
    answer: str = Field(description="the sentences as one text, each followed by its [n] marker")
    refused: bool = Field(description="true when the course does not cover the question")
    generated: bool
    dropped: int
    closest_pages: list[str]
    sentences: list[AnswerSentence]
    citations: list[Citation]
    answer_id: str


class Rated(BaseModel):
    id: str
    course: str


class Day(BaseModel):
    date: str
    questions: int


class InsightsReply(BaseModel):
    """What the course's students ask and where the material falls short (docs/insight.md)."""

    course: str
    since: str | None
    until: str | None
    questions: int
    refused: int
    students: int
    per_day: list[Day] = Field(description="within the days the question log keeps (`ATLAS_QA_LOG_DAYS`)")
    pages: list[dict[str, Any]]
    topics: list[dict[str, Any]]
    gaps: list[dict[str, Any]]
    confusions: list[dict[str, Any]]
    cited: list[dict[str, Any]]


class IngestReply(BaseModel):
    added: int
    updated: int
    removed: int
    unchanged: int
    chunks: int
    embedded: int
    skipped: list[dict[str, Any]]
    by_format: dict[str, Any]


class Me(BaseModel):
    name: str
    role: str = Field(json_schema_extra={"enum": list(ROLES)})
    courses: list[str]


# -- who is asking ----------------------------------------------------------------------------------------------------
bearer = HTTPBearer(auto_error=False, description="a token from `atlas-qa users token NAME`")
session = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="the cookie `POST /login` sets")


def current_user(request: Request, _token: Any = Depends(bearer), _cookie: Any = Depends(session)) -> User:  # noqa: B008
    """The caller the server's gate identified (the two schemes document how; the gate checks them)."""
    user = getattr(request.state, "user", None)
    if user is None:
        raise NotSignedInError("Sign in, or send Authorization: Bearer <token>.")
    return user  # type: ignore[no-any-return]


def member(courses: Courses, user: User, course: str | None) -> str:
    """The course asked for, if the user belongs to it (403 otherwise, whether or not it exists; 404 if not served)."""
    course = course or courses.settings.course
    if not user.in_course(course):
        raise ForbiddenError(f"You are not in the course {course!r}.")
    if course not in courses.names:
        raise NotFoundError(f"This app does not serve the course {course!r}.")
    return course


def instructor(courses: Courses, user: User, course: str | None) -> str:
    course = member(courses, user, course)
    if not user.teaches(course):
        raise ForbiddenError(f"Only the instructors of {course!r} may do this.")
    return course


def history_of(turns: list[Turn]) -> list[tuple[str, Answer | None]]:
    """The conversation as `Atlas.ask` takes it: an answer given as text becomes an answer without sources."""
    out: list[tuple[str, Answer | None]] = []
    for t in turns:
        answer = AnswerIn(answer=t.answer) if isinstance(t.answer, str) else t.answer
        out.append((t.question, answer.answer_of(t.question) if answer else None))
    return out


DAY: dict[str, Any] = {"pattern": r"^\d{4}-\d{2}-\d{2}$", "json_schema_extra": {"format": "date"}}
COURSE = Query(default=None, max_length=MAX_COURSE_CHARS, description="the course (default: the app's course)")


def router(courses: Courses) -> APIRouter:
    """The /api/v1 routes over the served courses."""
    api = APIRouter(prefix="/api/v1", tags=["atlas-qa"])
    who = Depends(current_user)

    @api.post(
        "/ask", summary="Answer a question from the course material, with its sources", responses=_errors(403, 404, 503)
    )
    def ask(body: AskBody, user: User = who) -> AskReply:
        course = member(courses, user, body.course)
        filters = body.filters.model_dump(exclude_none=True) if body.filters else None
        asked = courses.asker(course).ask(user.name, body.question, filters, history_of(body.history or []))
        corpus = courses.atlas(course).settings.corpus
        return AskReply.model_validate({**answer_json(asked.answer, corpus), "answer_id": asked.log_id})

    @api.post("/feedback", summary="Rate an answer (and comment on it)", responses=_errors(403, 404))
    def add_feedback(body: FeedbackBody, user: User = who) -> Rated:
        course = member(courses, user, body.course)
        store = courses.feedback(course)
        if body.answer_id:
            courses.log.flush()
            if courses.log.student_of(course, body.answer_id) != courses.log.student(user.name):
                raise NotFoundError(f"No answer {body.answer_id!r} of yours in {course!r}.")
            store.update(body.answer_id, body.helpful, body.comment)
            return Rated(id=body.answer_id, course=course)
        answer = body.answer.answer_of(body.question)
        return Rated(id=store.add(body.question, answer, body.helpful, body.comment, user=user.name), course=course)

    @api.get("/feedback", summary="Every rating of the course, newest first (instructors)", responses=_errors(403, 404))
    def list_feedback(course: str | None = COURSE, user: User = who) -> list[Feedback]:
        return courses.feedback(instructor(courses, user, course)).list()

    @api.get(
        "/insights",
        summary="What the course's students ask and where the material falls short (instructors)",
        responses=_errors(403, 404, 503),
    )
    def insights(
        course: str | None = COURSE,
        since: str | None = Query(default=None, description="the first day (UTC) counted", **DAY),  # noqa: B008
        until: str | None = Query(default=None, description="the last day (UTC) counted", **DAY),  # noqa: B008
        user: User = who,
    ) -> InsightsReply:
        """Questions, refusals, students, pages (most asked first), gaps (largest first), confusions and cited works
        between `since` and `until` (days, both included); see docs/insight.md."""
        course = instructor(courses, user, course)
        found = build_insights(courses.atlas(course), courses.log, course, since, until)
        return InsightsReply.model_validate(insights_json(found))

    @api.get(
        "/attribution/{page_id:path}",
        summary="A page as parsed: quotations, citations, references",
        responses=_errors(403, 404),
    )
    def attribution(page_id: str, course: str | None = COURSE, user: User = who) -> PageParse:
        course = instructor(courses, user, course)
        try:
            doc = courses.atlas(course).document(page_id)
        except (AtlasError, KeyError):
            raise NotFoundError(f"No page {page_id!r} in {course!r}.") from None
        return page_parse(doc)

    @api.post(
        "/reindex",
        summary="Read the course's corpus folder again and sync the index (instructors)",
        responses=_errors(400, 403, 404, 409, 503),
    )
    def reindex(course: str | None = COURSE, user: User = who) -> IngestReply:
        course = instructor(courses, user, course)
        if course != courses.settings.course:  # the corpus folder is this app's course's; never ingest it elsewhere
            raise BadRequestError(f"Re-index {course!r} with `atlas-qa ingest --course {course}` (its own folder).")
        if not courses.ingest_lock.acquire(blocking=False):
            raise BusyError("A re-index is already running; try again when it has finished.")
        try:
            return IngestReply.model_validate(courses.atlas(course).ingest().to_json())
        finally:
            courses.ingest_lock.release()

    @api.get("/me", summary="Who you are signed in as", responses=_errors())
    def me(user: User = who) -> Me:
        return Me(name=user.name, role=user.role, courses=list(user.courses))

    routes = list(api.routes)

    @api.api_route("/{rest:path}", methods=ANY_METHOD, include_in_schema=False)
    def elsewhere(request: Request, rest: str) -> None:
        """Past the routes above (the Gradio app mounted at / would answer instead): 405 with the methods the path
        takes, or 404, in the one error shape."""
        allowed = sorted(
            {
                m
                for r in routes
                if r.matches(request.scope)[0] is Match.PARTIAL
                for m in getattr(r, "methods", None) or ()
            }
        )
        if allowed:
            raise StarletteHTTPException(
                405,
                f"{request.method} is not allowed here; use {', '.join(allowed)}.",
                headers={"Allow": ", ".join(allowed)},
            )
        raise NotFoundError(f"There is no API route {request.url.path!r}; see /api/v1/docs.")

    return api


ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "QUERY"]
