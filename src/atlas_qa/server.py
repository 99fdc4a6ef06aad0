"""The web server: FastAPI with the REST API, the sign-in pages and the Gradio app mounted at `/`, served by uvicorn.

Every request passes, outermost first: the Host check (400 for a name not configured: no DNS rebinding), the body
cap (413 beyond `max_body_bytes`), the gate, then CORS (only the configured origins, with credentials). The gate
identifies the caller (trusted proxy header, `Authorization: Bearer`, or session cookie); anyone unidentified gets
401 (a browser is sent to /login) on every route but the sign-in page and static assets. The Gradio UI serves the
app's course: a user outside it gets 403 there.
"""

# No `from __future__ import annotations`: FastAPI reads the annotations of the routes defined in create_app.

import html
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

from .access import SESSION_COOKIE, Access, allowed_hosts, split
from .config import Settings
from .users import ThrottledError, User

Scope = MutableMapping[str, Any]
ASGI = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]
PUBLIC = ("/login", "/logout", "/favicon.ico")
PUBLIC_PREFIXES = ("/assets/", "/static/", "/gradio_api/static/", "/theme.css")


class Gate:
    """ASGI middleware: body cap, then identification and the course/role checks of the UI routes."""

    def __init__(self, app: ASGI, access: Access) -> None:
        self.app, self.access = app, access
        self.limit = access.settings.max_body_bytes

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if scope["type"] == "http" and int(headers.get("content-length") or 0) > self.limit:
            await _reply(send, 413, f"The request body is larger than {self.limit:,} bytes.")
            return
        path = scope.get("path", "")
        if scope["type"] == "http" and scope["method"] == "OPTIONS":  # CORS preflight: no credentials; CORS answers
            await self.app(scope, receive, send)
            return
        peer = (scope.get("client") or ("", 0))[0]
        if drop := self.access.untrusted_forwarding(headers, peer):  # no client sets the page's public address
            scope["headers"] = [(k, v) for k, v in scope["headers"] if k.decode("latin-1").lower() not in drop]
        user = self.access.identify(headers, peer)
        scope.setdefault("state", {})["user"] = user
        if user is None and not (path in PUBLIC or path.startswith(PUBLIC_PREFIXES)):
            if scope["type"] == "http" and scope["method"] == "GET" and "text/html" in headers.get("accept", ""):
                await _redirect(send, "/login")
            else:
                await _reply(send, 401, "Sign in, or send Authorization: Bearer <token>.")
            return
        course = self.access.settings.course
        if user is not None and not path.startswith(("/api/", *PUBLIC)) and not user.in_course(course):
            await _reply(send, 403, f"You are not in the course {course!r} that this app serves.")
            return
        received, started, refused = 0, False, False

        async def capped_receive() -> Any:
            nonlocal received, refused
            message = await receive()
            if message.get("type") == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit and not refused:
                    refused = True  # answer 413 now; the app sees the client gone and its reply is dropped
                    if not started:
                        await _reply(send, 413, f"The request body is larger than {self.limit:,} bytes.")
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message: Any) -> None:
            nonlocal started
            if refused:
                return
            started = started or message.get("type") == "http.response.start"
            await send(message)

        await self.app(scope, capped_receive if scope["type"] == "http" else receive, tracking_send)


async def _reply(send: Any, status: int, sentence: str) -> None:
    import json

    body = json.dumps({"detail": sentence}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _redirect(send: Any, to: str) -> None:
    await send({"type": "http.response.start", "status": 303, "headers": [(b"location", to.encode())]})
    await send({"type": "http.response.body", "body": b""})


def login_page(message: str = "", status: str = "") -> str:
    note = f'<p class="msg" role="alert">{html.escape(message)}</p>' if message else ""
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Sign in · atlas-qa</title>
<style>body{{font-family:system-ui,sans-serif;background:#f8fafc;color:#0f172a;display:grid;place-items:center;
min-height:100vh;margin:0}}main{{background:#fff;border:1px solid #cbd5e1;border-radius:12px;padding:2rem;width:20rem}}
label{{display:block;margin:.8rem 0 .3rem;font-weight:600}}input{{width:100%;box-sizing:border-box;padding:.5rem;
border:1px solid #475569;border-radius:6px;font-size:1rem}}button{{margin-top:1.2rem;width:100%;padding:.6rem;
background:#3730a3;color:#fff;border:0;border-radius:6px;font-size:1rem}}.msg{{color:#991b1b}}
:focus-visible{{outline:3px solid #1d4ed8;outline-offset:2px}}</style></head>
<body><main><h1>atlas-qa</h1>{note}<form method="post" action="/login">
<label for="name">User name</label><input id="name" name="name" autocomplete="username" required autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button></form>{status}</main></body></html>"""


def create_app(settings: Settings, atlas: Any, access: Access | None = None) -> Any:
    """The FastAPI app: /login, /logout, /api/v1 (docs at /api/v1/docs) and the Gradio UI at /."""
    import gradio as gr
    from fastapi import FastAPI, Request
    from fastapi.middleware.cors import CORSMiddleware
    from fastapi.responses import HTMLResponse, RedirectResponse
    from starlette.concurrency import run_in_threadpool
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    from .api import Courses, router
    from .guard import AskGuard
    from .insight import build_insights
    from .ui.app import build_app
    from .ui.serve import launch_options

    access = access or Access.for_settings(settings)
    app = FastAPI(
        title="atlas-qa API",
        version="1",
        description="Answers quoted from the course material, with their sources. See docs/api.md.",
        docs_url="/api/v1/docs",
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
    )
    courses = Courses(settings, atlas)
    app.include_router(router(courses))
    seconds = settings.session_hours * 3600

    @app.get("/login", include_in_schema=False)
    def login_form() -> Any:
        return HTMLResponse(login_page())

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Any:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        name, password = form.get("name", [""])[0], form.get("password", [""])[0]
        address = access.client_address(request.headers, request.client.host if request.client else None)
        try:  # bcrypt takes a while on purpose: off the event loop, so other requests go on meanwhile
            user = await run_in_threadpool(access.store.login, name, password, address)
        except ThrottledError as exc:
            return HTMLResponse(login_page(str(exc)), status_code=429)
        if user is None:
            return HTMLResponse(login_page("Wrong user name or password."), status_code=401)
        response = RedirectResponse("/", status_code=303)
        secure = request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"
        sid = access.store.new_session(user.name, seconds)
        response.set_cookie(SESSION_COOKIE, sid, max_age=int(seconds), httponly=True, samesite="lax", secure=secure)
        return response

    @app.api_route("/logout", methods=["GET", "POST"], include_in_schema=False)
    def logout(request: Request) -> Any:
        sid = request.cookies.get(SESSION_COOKIE)
        if sid:
            access.store.end_session(sid)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    def user_of(request: Any) -> User | None:
        headers = {str(k).lower(): str(v) for k, v in dict(request.headers).items()}
        client = getattr(request, "client", None)
        return access.identify(headers, getattr(client, "host", None))

    feedback = courses.feedback(settings.course)  # the UI logs and rates into the API's question log

    def insights(course: str, since: str | None, until: str | None) -> Any:  # the Insight tab's numbers: the API's
        return build_insights(courses.atlas(course), courses.log, course, since, until)

    blocks = build_app(courses.atlas(settings.course), feedback, None if access.local else user_of, insights)
    app.router.on_shutdown.append(courses.log.close)  # pending question-log writes are stored before exit
    options = launch_options(settings)
    # CORS before mounting: Gradio then adds none of its own (its default allows any localhost origin).
    app.add_middleware(
        CORSMiddleware,
        allow_origins=split(settings.cors_origins),
        allow_credentials=True,
        allow_methods=["GET", "POST"],
        allow_headers=["Authorization", "Content-Type"],
    )

    def gradio_user(request: Any) -> str | None:
        user = user_of(request)
        return user.name if user else None

    gr.mount_gradio_app(
        app,
        blocks,
        path="/",
        auth_dependency=gradio_user,
        allowed_paths=[],
        blocked_paths=options["blocked_paths"],
        max_file_size=options["max_file_size"],
        show_error=False,
        ssr_mode=False,
        mcp_server=False,
        theme=options["theme"],
        footer_links=["api"],
    )
    app.state.blocks = blocks  # the mounted Gradio app, for who needs its internals (tests of its session state)
    app.add_middleware(AskGuard)  # a malformed `ask` call is refused (400) before it is batched with others'
    app.add_middleware(Gate, access=access)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(settings))
    return app
