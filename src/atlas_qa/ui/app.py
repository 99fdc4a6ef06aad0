"""`build_app(atlas)`: the Gradio Blocks over an Atlas (the header, the `ask` API, the tabs and their wiring)."""

# No `from __future__ import annotations`: Gradio reads `gr.Request` in the callbacks' annotations.

import logging
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ..access import LOCAL_USER
from ..errors import AtlasError
from ..ratings import FeedbackStore
from ..types import error_json
from ..users import User
from .ask_tab import build_ask_tab, wire_ask_tab
from .insight_tab import InsightSource, build_insight_tab, wire_insight_tab
from .instructor_tabs import after_answer, build_instructor_tabs, wire_instructor_tabs
from .render import asset, esc
from .reviews_tab import build_reviews_tab, wire_reviews_tab
from .sources import FACETS
from .views import Views

CONCURRENCY = 4  # questions answered at once; more wait in the queue
log = logging.getLogger(__name__)


def forget_call_sessions(app: Any, requests: Any) -> None:
    """Drop the session state Gradio made for each `/call/...` API request (a batch function gets a list of them).

    Gradio gives every request without a session its own session, and keeps each one (a copy of the config of
    every block of the app, ~100 KB here) until 10,000 newer sessions push it out: ~1 GB that only the one call
    ever used. A session that holds a `gr.State` value (a browser's conversation) is never dropped.
    """
    holder = getattr(app, "state_holder", None)
    if holder is None:  # not launched
        return
    for request in requests if isinstance(requests, list) else [requests]:
        url = getattr(getattr(request, "request", None), "url", None)
        session = getattr(request, "session_hash", None)
        state = holder.session_data.get(session) if session else None
        if state is not None and "/call/" in getattr(url, "path", "") and not state.state_data:
            holder.session_data.pop(session, None)
            holder.time_last_used.pop(session, None)


def render_header(stats: str) -> str:
    return (
        '<div class="aq-header"><div class="aq-brand"><span class="aq-logo">◎</span>atlas-qa</div>'
        '<div class="aq-tagline">Answers quoted from the course material, every sentence traced to its passage, its '
        f'speaker and the works it cites.</div><div class="aq-stats">{esc(stats)} · '
        '<a href="/api/v1/docs">API</a></div></div>'
    )


def render_user(user: User | None) -> str:
    """Who is signed in, and a button to sign out (nothing for the local user, who never signs in)."""
    if user is None:
        return ""
    return (
        f'<div class="aq-user"><span>Signed in as <b>{esc(user.name)}</b>'
        f'<span class="aq-role"> ({esc(user.role)})</span></span>'
        '<form method="post" action="/logout"><button type="submit" class="aq-signout">Sign out</button></form></div>'
    )


def build_app(
    atlas: Any,
    feedback: FeedbackStore | None = None,
    user_of: Callable[[Any], User | None] | None = None,
    insights: Callable[[str, str | None, str | None], Any] | None = None,
    asker: Any = None,
    export_dir: Path | None = None,
) -> Any:
    """The Blocks over an Atlas (not launched). `feedback`: the question log and its ratings (default: the atlas's).

    `user_of(request)`: the caller of an event (see `access.Access.identify`); without it everyone is the local
    user, who may do everything. With it, the instructor tabs start hidden and empty, are shown on load to the
    course's instructors only, and every instructor event checks the caller on the server.
    `insights(course, since, until)`: a served course's `Insights` for the Insight tab (no tab without it).
    `asker`: the course's `asking.Asker` (the server's, with the reviewed answers; default: one over `feedback`'s log).
    `export_dir`: where downloads are written (default: a temp folder removed with the views, see `Views.export_dir`).
    """
    import gradio as gr

    def who(request: Any) -> str:
        user = LOCAL_USER if user_of is None else user_of(request)
        return user.name if user is not None else ""

    views = Views(atlas, feedback, export_dir=export_dir, who=who, asker=asker)
    course = getattr(getattr(atlas, "settings", None), "course", "default")

    def teaches(request: Any, of: str = course) -> bool:
        user = LOCAL_USER if user_of is None else user_of(request)
        return user is not None and user.teaches(of)

    served = getattr(getattr(atlas, "settings", None), "served_courses", lambda: [course])()

    with gr.Blocks(title="atlas-qa", analytics_enabled=False, fill_width=True) as app:
        states = SimpleNamespace(turns=gr.State([]), rated=gr.State({}), rated_turn=gr.State(None))
        with gr.Row(equal_height=True, elem_id="aq-top"):  # the header, and who is signed in (widths: app.css)
            stats = gr.HTML(
                render_header(views.stats()),
                head=f"<style>{asset('app.css')}</style>",
                js_on_load=None,
                elem_id="aq-header",
            )
            signed_in = gr.HTML("", js_on_load=None, elem_id="aq-user")

        def ask_api(question: str, course: str, topic: str, chapter: str, request: gr.Request) -> dict[str, Any]:
            """The `ask --json` answer, within this app's course (course/topic/chapter: optional page filters).

            Gradio batches concurrent calls (batch=True), so each parameter arrives as a list with one item per call
            and a tuple of one list comes back; the annotations describe one call, as the API page shows it. Each call
            is answered or refused on its own (`{"question", "error", "code", "status"}`): a bad one never fails the
            others.
            """
            forget_call_sessions(app, request)
            filters = [dict(zip(FACETS, f)) for f in zip(course, topic, chapter)]
            users = [who(r) for r in (request if isinstance(request, list) else [request] * len(question))]
            try:  # answered and logged as the chat's answers are (asking.Asker)
                results = views.asker.ask_batch(users, question, filters)
            except Exception as exc:  # noqa: BLE001 (unexpected: every call gets the sentence, not a bare error)
                log.exception("the ask API failed")
                failed = exc if isinstance(exc, AtlasError) else AtlasError("An internal error stopped the answers.")
                results = [failed] * len(question)
            return (  # type: ignore[return-value]
                [
                    error_json(q, r) if isinstance(r, AtlasError) else r.to_json(views.corpus)  # as POST /api/v1/ask
                    for q, r in zip(question, results)
                ],
            )

        endpoint = gr.api(ask_api, api_name="ask", batch=True, max_batch_size=16, concurrency_limit=2)
        app.ask_fn_index = endpoint["id"]  # for `guard.AskGuard`: a queue/join call naming it is checked first

        reviewing = views.review_store is not None  # reviewed answers are stored: instructors may review
        with gr.Tabs(elem_id="aq-main-tabs") as main_tabs:
            ask = build_ask_tab(gr, views, reviewing=reviewing and user_of is None)
            instructor = build_instructor_tabs(gr, views, shown=user_of is None)
            insight = build_insight_tab(gr, shown=user_of is None, reviewing=reviewing) if insights else None
            reviews = build_reviews_tab(gr, shown=user_of is None) if reviewing else None
        wire_ask_tab(gr, views, ask, states, after_answer(gr, views, instructor, teaches))
        wire_instructor_tabs(gr, views, instructor, ask, states.turns, stats, teaches)
        if insight and insights:
            source = InsightSource(
                lambda request: [c for c in served if teaches(request, c)],
                insights,
                reviewable=course if reviewing else None,
                material=views.material_to_add if reviewing else None,
            )
            wire_insight_tab(gr, insight, source, views.export_dir)
        if reviews:
            wire_reviews_tab(gr, views, reviews, states.turns, main_tabs, teaches, ask, insight)
        tabs = (instructor.attribution_tab, instructor.corpus_tab, instructor.feedback_tab)
        tabs += (insight.tab,) if insight else ()
        tabs += (reviews.tab,) if reviews else ()

        def on_load(request: gr.Request) -> tuple[Any, ...]:
            shown = teaches(request)
            pages, parse = gr.skip(), gr.skip()
            if shown and user_of is not None:  # the instructor data the page's config leaves out
                choices = views.page_choices()
                first = choices[0][1] if choices else None
                pages, parse = gr.Dropdown(choices=choices, value=first), views.parse_view(first)
            user = None if user_of is None else user_of(request)
            header = (render_header(views.stats()), render_user(user))
            return (*header, *(gr.Tab(visible=shown) for _ in tabs), pages, parse, gr.Row(visible=shown and reviewing))

        load_outputs = [stats, signed_in, *tabs]
        load_outputs += [instructor.page_pick, instructor.parse_view, ask.review_row]
        app.load(on_load, None, load_outputs, show_progress="hidden", api_visibility="private")

    app.queue(default_concurrency_limit=CONCURRENCY, max_size=128)
    return app
