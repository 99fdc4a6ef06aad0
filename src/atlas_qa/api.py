"""The versioned REST API (`/api/v1`): ask and rate for course members; feedback, insight, page parses and
re-indexing for the course's instructors. Every route checks the caller's role and course on the server
(docs/api.md).

The OpenAPI document is the contract: every request and response is a pydantic model (`api_models.py`) or a
dataclass, every error a route can end with is listed with the one error shape (`errors.error_body`), and the two
ways to sign in are its security schemes. Requests are strict: `"helpful": "yes"` is refused, not read as true.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyCookie, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from .access import SESSION_COOKIE
from .api_models import (
    MAX_COURSE_CHARS,
    AnswerIn,
    AskBody,
    AskReply,
    ComposeBody,
    EndorseBody,
    FeedbackBody,
    IngestReply,
    InsightsReply,
    Me,
    NotCoveredBody,
    Rated,
    ReviewBody,
    ReviewChange,
    ReviewOut,
    TurnIn,
    error_responses,
)
from .asking import Courses
from .core import check_question
from .errors import (
    AtlasError,
    BadRequestError,
    BusyError,
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    NotSignedInError,
    QuestionError,
    error_body,
)
from .insight import build_insights, insights_json
from .parsed import PageParse, page_parse
from .ratings import Feedback
from .reviews.store import Review, compose
from .types import Answer, answer_from_json, answer_json
from .users import User

log = logging.getLogger(__name__)


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


def history_of(turns: list[TurnIn]) -> list[tuple[str, Answer | None]]:
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
        "/ask",
        summary="Answer a question from the course material, with its sources",
        responses=error_responses(403, 404, 503),
    )
    def ask(body: AskBody, user: User = who) -> AskReply:
        course = member(courses, user, body.course)
        filters = body.filters.model_dump(exclude_none=True) if body.filters else None
        asked = courses.asker(course).ask(user.name, body.question, filters, history_of(body.history or []))
        return AskReply.model_validate(asked.to_json(courses.atlas(course).settings.corpus))

    @api.post("/feedback", summary="Rate an answer (and comment on it)", responses=error_responses(403, 404))
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

    @api.get(
        "/feedback",
        summary="Every rating of the course, newest first (instructors)",
        responses=error_responses(403, 404),
    )
    def list_feedback(course: str | None = COURSE, user: User = who) -> list[Feedback]:
        return courses.feedback(instructor(courses, user, course)).list()

    @api.get(
        "/insights",
        summary="What the course's students ask and where the material falls short (instructors)",
        responses=error_responses(403, 404, 503),
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
        responses=error_responses(403, 404),
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
        responses=error_responses(400, 403, 404, 409, 503),
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

    def review_out(review: Review, uses: dict[str, tuple[int, int, int]]) -> ReviewOut:
        corpus = courses.atlas(review.course).settings.corpus
        answer = answer_json(review.as_answer(review.questions[0]), corpus) if review.answer else None
        n, up, down = uses.get(review.id, (0, 0, 0))
        return ReviewOut.model_validate(
            {**review.to_json(), "answer": answer, "uses": n, "helpful": up, "unhelpful": down}
        )

    def reviewed(review_id: str, user: User) -> Review:
        """The review `review_id`, if the user teaches its course (403 otherwise, 404 when there is none)."""
        found = courses.reviews.get(review_id)
        instructor(courses, user, found.course)
        return found.checked(courses.atlas(found.course).page_hash)

    def review_answer(course: str, user: User, question: str, body: ReviewBody | ReviewChange) -> Answer | None:
        """The answer a review body gives: composed from its sentences, endorsed from an answer of the user's."""
        atlas = courses.atlas(course)
        if isinstance(body, ComposeBody | ReviewChange) and body.sentences:
            return compose(atlas.document, question, [(s.page_id, s.start, s.end) for s in body.sentences])
        if isinstance(body, EndorseBody):
            courses.log.flush()
            if courses.log.student_of(course, body.from_answer) != courses.log.student(user.name):
                raise NotFoundError(f"No answer {body.from_answer!r} of yours in {course!r}.")
            given = answer_from_json(
                {**courses.log.details(course, [body.from_answer])[body.from_answer], "question": question}
            )
            if not given.sentences:
                raise ConflictError(
                    "A refused answer cannot be endorsed: compose one from course sentences, or mark it not covered."
                )
            return given
        return None

    @api.get(
        "/reviews",
        summary="The course's reviewed answers, newest first, with their use and ratings (instructors)",
        responses=error_responses(403, 404),
    )
    def list_reviews(course: str | None = COURSE, user: User = who) -> list[ReviewOut]:
        course = instructor(courses, user, course)
        uses = courses.log.review_uses(course)
        return [review_out(r, uses) for r in courses.reviews.list(course, courses.atlas(course).page_hash)]

    @api.post(
        "/reviews",
        summary="Review an answer: endorse yours, compose one from course sentences, or mark not covered",
        status_code=201,
        responses=error_responses(403, 404, 409),
    )
    def create_review(body: ReviewBody, user: User = who) -> ReviewOut:
        course = instructor(courses, user, body.course)
        answer = review_answer(course, user, body.question, body)
        kind = {EndorseBody: "endorsed", ComposeBody: "composed", NotCoveredBody: "not_covered"}[type(body)]
        note = body.note if isinstance(body, ComposeBody | NotCoveredBody) else ""
        review = courses.reviews.create(
            course,
            [body.question, *body.questions],
            kind,
            answer,
            note,
            user.name,
            courses.atlas(course).page_hash,
        )
        return review_out(review, {})

    @api.get("/reviews/{review_id}", summary="One reviewed answer (instructors)", responses=error_responses(403, 404))
    def get_review(review_id: str, user: User = who) -> ReviewOut:
        review = reviewed(review_id, user)
        return review_out(review, courses.log.review_uses(review.course))

    @api.put(
        "/reviews/{review_id}",
        summary="Change a reviewed answer, or confirm it after its pages changed (instructors)",
        responses=error_responses(403, 404),
    )
    def change_review(review_id: str, body: ReviewChange, user: User = who) -> ReviewOut:
        review = reviewed(review_id, user)
        questions = body.questions or list(review.questions)
        answer = review_answer(review.course, user, questions[0], body)
        changed = courses.reviews.update(
            review, user.name, courses.atlas(review.course).page_hash, body.questions, answer, body.note
        )
        return review_out(changed, courses.log.review_uses(review.course))

    @api.delete(
        "/reviews/{review_id}",
        summary="Delete a reviewed answer (instructors)",
        status_code=204,
        responses=error_responses(403, 404),
    )
    def delete_review(review_id: str, user: User = who) -> None:
        courses.reviews.delete(reviewed(review_id, user))

    @api.get("/me", summary="Who you are signed in as", responses=error_responses())
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
