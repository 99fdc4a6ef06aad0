"""A check in front of the app's `ask` call API: a body that is not `{"data": [question, course, topic, chapter]}`
with texts is refused with a 400 and one sentence, before Gradio queues it.

Why here: Gradio batches queued calls, and one call whose `data` has the wrong number of fields cuts every other
call of its batch short (it zips the calls' fields together), so it can only be refused before it is queued.
`Atlas.ask_batch` still refuses bad questions one by one for calls that arrive another way (`/queue/join`).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .core import check_filters, check_question
from .errors import AtlasError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

ASK_PATHS = ("/gradio_api/call/ask",)
FIELDS = ("course", "topic", "chapter")
MAX_BODY = 64 * 1024  # a question is at most 1,000 characters: a call body never needs more


def ask_body_error(body: bytes) -> str | None:
    """Why a call body cannot be a question for the `ask` API (one sentence), or None when it can."""
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return 'The body must be JSON: {"data": [question, course, topic, chapter]}.'
    data = parsed.get("data") if isinstance(parsed, dict) else None
    if not isinstance(data, list) or len(data) != 1 + len(FIELDS):
        return 'The body\'s data must be a list of 4 values: [question, course, topic, chapter] (use "" for none).'
    try:
        check_question(data[0])
        check_filters(dict(zip(FIELDS, data[1:])))
    except AtlasError as exc:
        return str(exc)
    return None


class AskGuard:
    """ASGI middleware: POSTs to the ask call API are read (up to MAX_BODY), checked, and passed on unchanged."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], paths: tuple[str, ...] = ASK_PATHS):
        self.app = app
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"].rstrip("/") not in self.paths:
            await self.app(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > MAX_BODY:
                await _refuse(send, 413, f"The body is larger than {MAX_BODY // 1024} KB; a question needs far less.")
                return
        error = ask_body_error(body)
        if error:
            await _refuse(send, 400, error)
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


async def _refuse(send: Send, status: int, sentence: str) -> None:
    payload = json.dumps({"detail": sentence}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
