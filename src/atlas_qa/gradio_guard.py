"""A check in front of the app's Gradio `ask` endpoint: a call whose body is not a question and three filters (texts)
is refused with 422 and one sentence in the one error shape (`errors.error_body`), before Gradio queues it, and a
bad question gets the same status and body as from `POST /api/v1/ask`.

Why here: Gradio batches queued calls, and one call whose `data` has the wrong number of fields cuts every other
call of its batch short (it zips the calls' fields together), so it can only be refused before it is queued. Every
way to reach the endpoint is checked: `/gradio_api/call/ask` (and `call/v2`), and `/gradio_api/queue/join` naming its
function index (`fn_index`, which `ui.app.build_app` records as `blocks.ask_fn_index`); `/gradio_api/run/ask` (where
Gradio runs a batch function unbatched and fails) answers 404 with the route to use.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .core import check_filters, check_question
from .errors import AtlasError, InvalidInputError, NotFoundError, TooLargeError, send_error
from .store.records import FACETS

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

API_NAME = "ask"
NAMED = re.compile(rf"/gradio_api/(call|call/v2|run|api)/{API_NAME}/?")
DIRECT = re.compile(rf"/gradio_api/(run|api)/{API_NAME}/?")  # Gradio runs a batch function unbatched there: a 500
JOIN = "/gradio_api/queue/join"
FIELDS = ("question", *FACETS)  # the endpoint's parameters: the question and the page filters
MAX_BODY = 64 * 1024  # a question is at most 1,000 characters: a call body never needs more
SHAPE = 'The body\'s data must be a list of 4 texts: [question, course, topic, chapter] (use "" for none).'


def ask_call_error(data: object) -> AtlasError | None:
    """Why `data` cannot be one call of the `ask` endpoint (an error with one sentence), or None when it can."""
    if isinstance(data, dict):  # call/v2: the parameters by name
        if not set(data) <= set(FIELDS) or "question" not in data:
            return InvalidInputError(f"The body must name the parameters {', '.join(FIELDS)} (question at least).")
        data = [data.get(f, "") for f in FIELDS]
    if not isinstance(data, list) or len(data) != len(FIELDS):
        return InvalidInputError(SHAPE)
    try:
        check_question(data[0])
        check_filters(dict(zip(FIELDS[1:], data[1:])))
    except AtlasError as exc:
        return exc
    return None


def ask_body_error(body: bytes, path: str, fn_index: int | None) -> AtlasError | None:
    """Why a POST `body` to `path` cannot be a call of the `ask` endpoint; None when it can, or is not one."""
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return InvalidInputError('The body must be JSON: {"data": [question, course, topic, chapter]}.')
    if path == JOIN:
        if not isinstance(parsed, dict) or fn_index is None or parsed.get("fn_index") != fn_index:
            return None  # another event of the page: Gradio checks it
        return ask_call_error(parsed.get("data"))
    if path.startswith("/gradio_api/call/v2/"):
        return ask_call_error(parsed if isinstance(parsed, dict) else None)
    return ask_call_error(parsed.get("data") if isinstance(parsed, dict) else None)


class AskGuard:
    """ASGI middleware: POSTs that may call `ask` are read (up to MAX_BODY), checked, and passed on unchanged."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], blocks: Any = None) -> None:
        self.app = app
        self.fn_index: int | None = getattr(blocks, "ask_fn_index", None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if scope.get("method") != "POST" or not (path == JOIN or NAMED.fullmatch(path)):
            await self.app(scope, receive, send)
            return
        if DIRECT.fullmatch(path):
            await send_error(
                send,
                NotFoundError(
                    f"Call the {API_NAME} endpoint at /gradio_api/call/{API_NAME} (or with the Gradio client)."
                ),
            )
            return
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > MAX_BODY and path != JOIN:
                await send_error(
                    send, TooLargeError(f"The body is larger than {MAX_BODY // 1024} KB; a question needs far less.")
                )
                return
        error = ask_body_error(body, path, self.fn_index)
        if error:
            await send_error(send, error)
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)
