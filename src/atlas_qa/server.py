"""The web server: FastAPI with the REST API, the sign-in pages and the Gradio app mounted at `/`, served by uvicorn.

Every request passes, outermost first: the Host check (400 for a name not configured: no DNS rebinding), the body
cap (413 beyond `max_body_bytes`), the gate, then CORS (only the configured origins, with credentials). The gate
refuses (403) a request that changes state (any method but GET, HEAD and OPTIONS, and websockets) sent without a
token from a page of another site than the app's own or a configured CORS origin: a sign-in cookie, a proxy's
sign-on or the local mode can never be used by another site's page, /login included (no CSRF). Then it identifies
the caller (trusted proxy header, `Authorization: Bearer`, or session cookie); anyone unidentified gets 401 (a
browser is sent to /login) on every route but the sign-in page and static assets. The Gradio UI serves the app's
course: a user outside it gets 403 there. Gradio's file routes serve only exports, so only to the course's
instructors; its upload routes are refused to everyone (no component takes a file).
"""

# No `from __future__ import annotations`: FastAPI reads the annotations of the routes defined in create_app.

import html
import os
import shutil
import tempfile
import weakref
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .access import SESSION_COOKIE, Access, allowed_hosts, split
from .config import Settings
from .database import DatabaseUnavailable
from .errors import (
    AtlasError,
    BadRequestError,
    ConfigError,
    ForbiddenError,
    NotSignedInError,
    TooLargeError,
    send_error,
)
from .users import ThrottledError, User

Scope = MutableMapping[str, Any]
ASGI = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]
PUBLIC = ("/login", "/logout", "/favicon.ico")
PUBLIC_PREFIXES = ("/assets/", "/static/", "/gradio_api/static/", "/theme.css")
UPLOADS = ("/gradio_api/upload", "/gradio_api/process_recording")  # no component of the app takes a file
FILES = ("/gradio_api/file=", "/gradio_api/file/", "/gradio_api/proxy=", "/gradio_api/stream/")  # exports only
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def from_another_site(headers: dict[str, str], origins: list[str]) -> bool:
    """Whether a browser sent this request from a page of another site (cross-site request forgery): its `Origin`
    is neither the app's own (the Host it was sent to) nor one of `origins`; without one, `Sec-Fetch-Site` says.
    A client that is no browser sends neither, and is not refused."""
    origin = headers.get("origin")
    if origin is None:
        return headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none")
    if origin in origins:
        return False
    return origin == "null" or urlsplit(origin).netloc.lower() != headers.get("host", "").lower()


class Gate:
    """ASGI middleware: body cap, then identification and the course/role checks of the UI routes."""

    def __init__(self, app: ASGI, access: Access) -> None:
        self.app, self.access = app, access
        self.limit = access.settings.max_body_bytes
        self.origins = split(access.settings.cors_origins)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if scope["type"] == "http" and int(headers.get("content-length") or 0) > self.limit:
            await send_error(send, self._too_large())
            return
        path = scope.get("path", "")
        if scope["type"] == "http" and scope["method"] == "OPTIONS":  # CORS preflight: no credentials; CORS answers
            await self.app(scope, receive, send)
            return
        changes = scope["type"] == "websocket" or scope["method"] not in SAFE_METHODS
        token = headers.get("authorization", "")[:7].lower() == "bearer "  # a browser never adds one by itself
        if changes and not token and from_another_site(headers, self.origins):
            await send_error(
                send, ForbiddenError("This request comes from a page of another site: sign in on this app's own pages.")
            )
            return
        peer = (scope.get("client") or ("", 0))[0]
        if drop := self.access.untrusted_forwarding(headers, peer):  # no client sets the page's public address
            scope["headers"] = [(k, v) for k, v in scope["headers"] if k.decode("latin-1").lower() not in drop]
        try:  # off the event loop: a database lookup (a server's round trip, or its timeout) holds no other request
            from starlette.concurrency import run_in_threadpool

            user = await run_in_threadpool(self.access.identify, headers, peer)
        except AtlasError as exc:  # the database cannot be reached and the credential was not seen before: 503
            await send_error(send, exc)
            return
        scope.setdefault("state", {})["user"] = user
        browsing = scope["type"] == "http" and scope["method"] == "GET" and "text/html" in headers.get("accept", "")
        if user is None and not (path in PUBLIC or path.startswith(PUBLIC_PREFIXES)):
            if browsing:
                await _redirect(send, "/login")
            else:
                await send_error(send, NotSignedInError("Sign in, or send Authorization: Bearer <token>."))
            return
        course = self.access.settings.course
        if user is not None and not path.startswith(("/api/", *PUBLIC)) and not user.in_course(course):
            if browsing:
                await _reply_html(send, 403, elsewhere_page(user, course))  # a browser: a page with a way out
            else:
                await send_error(send, ForbiddenError(f"You are not in the course {course!r} that this app serves."))
            return
        if path.startswith(UPLOADS):
            await send_error(send, ForbiddenError("This app takes no uploads."))
            return
        if path.startswith(FILES) and not (user is not None and user.teaches(course)):
            await send_error(send, ForbiddenError("Only the course's instructors can download its exports."))
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
                        await send_error(send, self._too_large())
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message: Any) -> None:
            nonlocal started
            if refused:
                return
            started = started or message.get("type") == "http.response.start"
            await send(message)

        await self.app(scope, capped_receive if scope["type"] == "http" else receive, tracking_send)

    def _too_large(self) -> TooLargeError:
        return TooLargeError(f"The request body is larger than {self.limit:,} bytes.")


class HostCheck:
    """ASGI middleware: Starlette's Host check (no DNS rebinding), its refusal sent in the one error shape."""

    def __init__(self, app: ASGI, allowed_hosts: list[str]) -> None:
        from starlette.middleware.trustedhost import TrustedHostMiddleware

        self.check = TrustedHostMiddleware(app, allowed_hosts=allowed_hosts)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        app_started = False

        async def reply(message: Any) -> None:
            nonlocal app_started
            if message["type"] == "http.response.start" and not app_started:
                app_started = True
                kind = dict(message.get("headers", [])).get(b"content-type", b"")
                if message["status"] == 400 and kind.startswith(b"text/plain"):  # the check's own refusal
                    host = dict(scope.get("headers", [])).get(b"host", b"").decode("latin-1")
                    await send_error(send, BadRequestError(f"This app does not answer to the host name {host!r}."))
                    raise _Refused
            await send(message)

        try:
            await self.check(scope, receive, reply)
        except _Refused:
            return


class _Refused(Exception):
    """The Host check's plain-text reply was replaced by the error shape: its body is not sent."""


async def _reply_html(send: Any, status: int, page: str) -> None:
    body = page.encode()
    headers = [(b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _redirect(send: Any, to: str) -> None:
    await send({"type": "http.response.start", "status": 303, "headers": [(b"location", to.encode())]})
    await send({"type": "http.response.body", "body": b""})


SIGN_OUT = '<form method="post" action="/logout"><button type="submit">Sign out</button></form>'


def _page(title: str, body: str) -> str:
    """A page of the server's own (signing in, not your course): the app's colours, WCAG AA, phone-sized."""
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{html.escape(title)} · atlas-qa</title>
<style>body{{font-family:system-ui,sans-serif;background:#f8fafc;color:#0f172a;display:grid;place-items:center;
min-height:100vh;margin:0}}main{{background:#fff;border:1px solid #cbd5e1;border-radius:12px;padding:2rem;width:20rem}}
label{{display:block;margin:.8rem 0 .3rem;font-weight:600}}input{{width:100%;box-sizing:border-box;padding:.5rem;
border:1px solid #475569;border-radius:6px;font-size:1rem}}button{{margin-top:1.2rem;width:100%;padding:.6rem;
background:#3730a3;color:#fff;border:0;border-radius:6px;font-size:1rem}}button:hover{{background:#312e81}}
.msg{{color:#991b1b}}:focus-visible{{outline:3px solid #1d4ed8;outline-offset:2px}}</style></head>
<body><main>{body}</main></body></html>"""


def login_page(message: str = "", status: str = "") -> str:
    note = f'<p class="msg" role="alert">{html.escape(message)}</p>' if message else ""
    return _page(
        "Sign in",
        f"""<h1>atlas-qa</h1>{note}<form method="post" action="/login">
<label for="name">User name</label><input id="name" name="name" autocomplete="username" required autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button></form>{status}""",
    )


def elsewhere_page(user: User, course: str) -> str:
    """What a signed-in user of other courses sees instead of the app: which course it serves, theirs, sign-out."""
    theirs = ", ".join(user.courses) or "none yet (ask your instructor to add you)"
    return _page(
        "Not your course",
        f"""<h1>Not your course</h1><p>You are signed in as <b>{html.escape(user.name)}</b>. This app serves the
course {html.escape(course)}, which you are not in.</p><p>Your courses: {html.escape(theirs)}. Use the address your
instructor gave for each, or sign in with another account.</p>{SIGN_OUT}""",
    )


def create_app(settings: Settings, atlas: Any, access: Access | None = None) -> Any:
    """The FastAPI app: /login, /logout, /api/v1 (docs at /api/v1/docs) and the Gradio UI at /."""
    import gradio as gr
    from fastapi import FastAPI, Request
    from fastapi.middleware.cors import CORSMiddleware
    from fastapi.responses import HTMLResponse, RedirectResponse
    from starlette.concurrency import run_in_threadpool

    from .api import install_error_handlers, router
    from .apidocs import mount_docs
    from .asking import Courses
    from .gradio_guard import AskGuard
    from .insight import build_insights
    from .ui.app import build_app
    from .ui.serve import mount_options

    access = access or Access.for_settings(settings)
    app = FastAPI(
        title="atlas-qa API",
        version="1",
        description="Answers quoted from the course material, with their sources. See docs/api.md.",
        docs_url=None,  # served from packaged assets (docs.py): the page works with no network
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
    )
    courses = Courses(settings, atlas)
    mount_docs(app, "/api/v1/docs", app.openapi_url or "")  # before the API's catch-all 404/405
    app.include_router(router(courses))
    install_error_handlers(app)
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
        except DatabaseUnavailable:
            message = "Signing in is not possible for a moment (the database cannot be reached): try again shortly."
            return HTMLResponse(login_page(message), status_code=503)
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

    exports = Path(tempfile.mkdtemp(prefix="atlas-qa-export-"))  # the downloads, removed (once) when the server
    remove_exports = weakref.finalize(app, shutil.rmtree, exports, True)  # stops, or with an app never served
    blocks = build_app(
        courses.atlas(settings.course),
        feedback,
        None if access.local else user_of,
        insights,
        asker=courses.asker(settings.course),
        export_dir=exports,
    )
    app.router.on_shutdown.append(courses.log.close)  # pending question-log writes are stored before exit
    app.router.on_shutdown.append(remove_exports)
    app.state.exports = exports
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
        **mount_options(settings),
    )
    app.state.blocks = blocks  # the mounted Gradio app, for who needs its internals (tests of its session state)
    app.add_middleware(AskGuard, blocks=blocks)  # a malformed call is refused (422) before it is batched with others'
    app.add_middleware(Gate, access=access)
    app.add_middleware(HostCheck, allowed_hosts=allowed_hosts(settings))
    return app


def serve(settings: Settings, ingest: bool = True, env: dict[str, str] | None = None) -> None:
    """Index the corpus if needed, then serve the app and its API on settings.host:settings.port with uvicorn.

    With no users (and no proxy sign-on) configured, only 127.0.0.1 may be used, and the start message says so.
    """
    env = dict(os.environ if env is None else env)
    if env.get("ATLAS_QA_AUTH"):
        raise ConfigError("ATLAS_QA_AUTH (one shared login) is replaced by accounts: `atlas-qa users add NAME ...`.")
    from .core import Atlas

    access = Access.for_settings(settings)
    access.check_local_host()  # wrong settings fail before the slow part
    allowed_hosts(settings)
    atlas = Atlas(settings)
    if ingest:
        report = atlas.ingest(progress=True)
        print("\n".join(report.summary()))
    run(settings, atlas, access)


def run(settings: Settings, atlas: Any, access: Access) -> None:
    """Serve the app over `atlas` until interrupted (uvicorn; the client address is the direct peer's)."""
    import uvicorn

    app = create_app(settings, atlas, access)
    url = f"http://{settings.host}:{settings.port}"
    if access.local:
        print(f"No users configured: serving one person at {url} (this machine only). Add accounts with")
        print("`atlas-qa users add NAME --role student|instructor|admin --course C --password-stdin` to serve a class.")
    else:
        print(f"Serving {settings.served_courses()} at {url}; sign in at {url}/login, API at {url}/api/v1/docs.")
    uvicorn.run(app, host=settings.host, port=settings.port, proxy_headers=False, log_level="warning")
