"""The errors atlas-qa raises, and the one JSON shape an HTTP edge sends them in.

Each error carries its HTTP `status` and a stable `code`; `error_body` is the only mapping from an error to a reply,
for the REST API, the Gradio endpoint and the server's own refusals alike: `{"error": sentence, "code", "status"}`.
The CLI turns the same errors into one sentence and an exit code.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any


class AtlasError(Exception):
    """Base class: every message says what went wrong and what to do.

    `status`: the HTTP status an API answers with when this error ends a request; `code`: a stable name for it.
    """

    status = 500
    code = "internal_error"


class ConfigError(AtlasError):
    """A setting is missing or invalid."""

    code = "config_error"


class LoadError(AtlasError):
    """A course file cannot be read; the ingest skips it with this reason."""

    code = "load_error"


class IndexMismatchError(AtlasError):
    """The index was built with another embedding model or an older schema."""

    code = "index_mismatch"


class IndexNotFoundError(AtlasError):
    """No index exists where one was expected."""

    status = 503
    code = "index_not_found"


class ModelLoadError(AtlasError):
    """The embedding model cannot be loaded offline."""

    code = "model_unavailable"


class InvalidInputError(AtlasError):
    """A request's value is not one the operation takes (a date that is not one, a body of the wrong shape)."""

    status = 422
    code = "invalid_input"


class QuestionError(InvalidInputError):
    """The question cannot be asked as given (not text, empty, too long, unknown filters)."""

    code = "invalid_question"


class StoreUnavailableError(AtlasError):
    """The index's store (a Chroma server, or the index folder) cannot be reached or written; asking again later
    may work."""

    status = 503
    code = "store_unavailable"


class WriteLockLost(AtlasError):
    """This writer's lease on a Chroma server ran out or was taken over: it stopped writing."""

    code = "write_lock_lost"


# -- refusals of the HTTP edges (who may do what) ----------------------------------------------------------------------
class BadRequestError(AtlasError):
    """A request the server cannot serve as sent (a Host that is not this app's, a course that needs its own ingest)."""

    status = 400
    code = "bad_request"


class NotSignedInError(AtlasError):
    """No credentials, or a wrong or expired one."""

    status = 401
    code = "not_signed_in"


class ForbiddenError(AtlasError):
    """The caller is not in the course, or its role may not do this."""

    status = 403
    code = "forbidden"


class NotFoundError(AtlasError):
    """No such page, record or course here."""

    status = 404
    code = "not_found"


class ConflictError(AtlasError):
    """The request is well formed but the thing it names cannot take it (endorsing a refused answer)."""

    status = 409
    code = "conflict"


class BusyError(AtlasError):
    """The operation is already running (a re-index)."""

    status = 409
    code = "busy"


class TooLargeError(AtlasError):
    """The request body is larger than the server takes."""

    status = 413
    code = "too_large"


HTTP_CODES = {
    400: BadRequestError.code,
    401: NotSignedInError.code,
    403: ForbiddenError.code,
    404: NotFoundError.code,
    405: "method_not_allowed",
    409: BusyError.code,
    413: TooLargeError.code,
    422: InvalidInputError.code,
    429: "throttled",
    503: "unavailable",
}


def error_body(error: BaseException | str, status: int | None = None) -> dict[str, Any]:
    """The one JSON shape of every 4xx/5xx: `{"error": one sentence, "code": stable name, "status": HTTP status}`.

    `error`: an AtlasError (its `status` and `code`), another exception (500) or a sentence with its `status`.
    """
    if isinstance(error, AtlasError):
        status = status or error.status
        code = error.code if status == error.status else HTTP_CODES.get(status, error.code)
        sentence = str(error) or type(error).__name__
    else:
        status = status or 500
        code = HTTP_CODES.get(status, "internal_error")
        sentence = error if isinstance(error, str) else "An internal error stopped this request; it has been logged."
    return {"error": sentence, "code": code, "status": status}


async def send_error(send: Callable[[Any], Awaitable[None]], error: AtlasError) -> None:
    """Answer an ASGI request with `error` in the one JSON shape (for middleware that refuses before the app)."""
    body = json.dumps(error_body(error), separators=(",", ":")).encode()  # as FastAPI writes it
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
