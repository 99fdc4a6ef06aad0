"""The HTTP API's contract: the pydantic models of every `/api/v1` request and response, and the one error shape
every route documents (`errors.error_body`). `api.py` serves them; the OpenAPI document is built from them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .core import MAX_QUESTION_CHARS
from .ratings import MAX_COMMENT_CHARS
from .reviews.store import MAX_NOTE_CHARS, MAX_SENTENCES
from .reviews.store import MAX_QUESTIONS as MAX_REVIEW_QUESTIONS
from .types import Answer, AnswerSentence, Citation, answer_from_json
from .users import ROLES

MAX_FILTER_CHARS = 200
MAX_PAGE_OFFSET = 16_000_000  # no page is longer (config: max_page_chars)
MAX_HISTORY = 20
MAX_COURSE_CHARS = 100
MAX_ANSWER_CHARS = 20_000


# -- the one error shape ----------------------------------------------------------------------------------------------
class ErrorReply(BaseModel):
    """Every 4xx and 5xx: one sentence, a stable code and the status (`errors.error_body`)."""

    error: str = Field(description="what went wrong and what to do, in one sentence")
    code: str = Field(description="a stable name: invalid_question, not_signed_in, forbidden, index_not_found, …")
    status: int


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
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
    offset: int = -1


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


class TurnIn(Strict):
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
    history: list[TurnIn] | None = Field(
        default=None, max_length=MAX_HISTORY, description="earlier turns, oldest first"
    )


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
class AnswerOut(BaseModel):
    """An answer in the `ask --json` shape."""

    question: str
    searched: str = Field(description="what was searched: a follow-up made to stand alone")
    answer: str = Field(description="the sentences as one text, each followed by its [n] marker")
    refused: bool = Field(description="true when the course does not cover the question")
    generated: bool
    dropped: int
    closest_pages: list[str]
    sentences: list[AnswerSentence]
    citations: list[Citation]


class ReviewedBy(BaseModel):
    """Which instructor-reviewed answer this is, who reviewed it and when (seconds since 1970)."""

    id: str
    by: str
    at: float


class AskReply(AnswerOut):
    """The answer, with the id of its question-log record; when it is an instructor's reviewed answer, `reviewed`
    says whose and `usual` is the answer the course material gives by itself."""

    answer_id: str
    reviewed: ReviewedBy | None = None
    usual: AnswerOut | None = None


class SpanIn(Strict):
    """A sentence of a course page, by its characters in the page's text (as `sentences` of an answer give them)."""

    page_id: str = Field(min_length=1, max_length=512)
    start: int = Field(ge=0, le=MAX_PAGE_OFFSET, strict=False)
    end: int = Field(ge=1, le=MAX_PAGE_OFFSET, strict=False)


ReviewQuestion = Annotated[str, Field(json_schema_extra=QUESTION, max_length=MAX_QUESTION_CHARS)]


class ReviewOf(Strict):
    question: ReviewQuestion = Field(description="the question it answers")
    questions: list[ReviewQuestion] = Field(
        default=[], max_length=MAX_REVIEW_QUESTIONS - 1, description="other wordings of the same question"
    )
    course: str | None = Field(default=None, max_length=MAX_COURSE_CHARS)


class EndorseBody(ReviewOf):
    """Endorse an answer you were given, as it is."""

    from_answer: str = Field(min_length=1, max_length=64, description="the `answer_id` /ask gave you")


class ComposeBody(ReviewOf):
    """Compose an answer from course sentences (in this order), with a note in your own words."""

    sentences: list[SpanIn] = Field(min_length=1, max_length=MAX_SENTENCES)
    note: str = Field(default="", max_length=MAX_NOTE_CHARS)


class NotCoveredBody(ReviewOf):
    """The course does not cover the question: material to add (never given to students)."""

    not_covered: Literal[True]
    note: str = Field(default="", max_length=MAX_NOTE_CHARS)


ReviewBody = EndorseBody | ComposeBody | NotCoveredBody


class ReviewChange(Strict):
    """Change a review (every field optional); any change, or `{}`, confirms it against the pages as they are now."""

    questions: list[ReviewQuestion] | None = Field(default=None, min_length=1, max_length=MAX_REVIEW_QUESTIONS)
    sentences: list[SpanIn] | None = Field(default=None, min_length=1, max_length=MAX_SENTENCES)
    note: str | None = Field(default=None, max_length=MAX_NOTE_CHARS)


class ReviewOut(BaseModel):
    """A reviewed answer: what it answers and with what, who reviewed it, whether a cited page changed since
    (`stale`, `changes`: it is not shown until confirmed), how often students got it and how they rated it."""

    id: str
    course: str
    kind: str = Field(json_schema_extra={"enum": ["endorsed", "composed", "not_covered"]})
    questions: list[str]
    answer: AnswerOut | None
    note: str
    pages: dict[str, str]
    by: str
    at: float
    stale: bool
    changes: list[str]
    uses: int = 0
    helpful: int = 0
    unhelpful: int = 0


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
    log_health: str = Field(
        "", description="a sentence when the question log cannot be written (records kept meanwhile) or was deleted"
    )


class IngestReply(BaseModel):
    added: int
    updated: int
    removed: int
    unchanged: int
    chunks: int
    embedded: int
    skipped: list[dict[str, Any]]
    by_format: dict[str, Any]
    planted: list[dict[str, Any]] = Field(
        default_factory=list, description="instructions planted in pages, kept out of the index: page_id, line, text"
    )


class Me(BaseModel):
    name: str
    role: str = Field(json_schema_extra={"enum": list(ROLES)})
    courses: list[str]
