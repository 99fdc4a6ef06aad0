"""The Reviews tab (a course's instructors): endorse a chat answer, compose one from course sentences, mark a question
not covered, and the course's reviewed answers ("needs review" first, confirm or delete). Opened with a question from
the chat ("Review the latest answer") or from Insight's gaps ("Review this question"). Every event checks on the
server that the caller teaches the course (a hidden tab is no permission)."""

# No `from __future__ import annotations`: Gradio reads `gr.Request` in the callbacks' annotations.

from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

from ..errors import AtlasError
from ..reviews.store import MAX_NOTE_CHARS
from .chat import ChatTurn
from .render import esc
from .views import Views


def ok(text: str) -> str:
    return f'<p class="aq-ok" role="status">{esc(text)}</p>'


def failed(exc: Exception) -> str:
    return f'<p class="aq-error" role="alert">{esc(exc)}</p>'


def build_reviews_tab(gr: Any, shown: bool = True) -> SimpleNamespace:
    """The Reviews tab's components inside the caller's `gr.Tabs`, empty until an instructor opens it."""
    with gr.Tab("Reviews", id="reviews", elem_id="aq-tab-reviews", visible=shown) as tab:
        gr.HTML(
            '<h2 class="aq-h">Reviewed answers</h2><div class="aq-intro"><b>For instructors.</b> Fix an answer once: '
            "a student who later asks the same thing gets your reviewed answer first, labelled as yours, with the "
            "usual answer one click away. Endorse an answer as it is, compose one from sentences of the course, or "
            "mark the question as not covered (listed in Insight as material to add).</div>",
            js_on_load=None,
        )
        question = gr.Textbox(
            label="Question reviewed", placeholder="The question this answer is for", elem_id="aq-review-question"
        )
        with gr.Row(equal_height=True):
            answer_pick = gr.Dropdown([], label="Answer from the chat", scale=4, elem_id="aq-review-answer")
            endorse = gr.Button("Endorse this answer as it is", scale=0, min_width=260, elem_id="aq-review-endorse")
        gr.HTML('<h3 class="aq-h">Compose an answer from the course</h3>', js_on_load=None)
        with gr.Row(equal_height=True):
            search = gr.Textbox(label="Search the course passages", scale=6, elem_id="aq-review-search")
            search_go = gr.Button("Search", scale=0, min_width=120, elem_id="aq-review-search-go")
        found = gr.CheckboxGroup([], label="Sentences found: tick the ones to quote", elem_id="aq-review-found")
        order = gr.Radio(
            [], label="Your answer, in order: pick a sentence to move or remove", elem_id="aq-review-order"
        )
        with gr.Row():
            up = gr.Button("Move up", size="sm", scale=0, min_width=120, elem_id="aq-review-up")
            down = gr.Button("Move down", size="sm", scale=0, min_width=120, elem_id="aq-review-down")
            remove = gr.Button("Remove", size="sm", scale=0, min_width=120, elem_id="aq-review-remove")
        note = gr.Textbox(
            label="Your note to students (optional; shown as yours, apart from the course text)",
            max_length=MAX_NOTE_CHARS,
            lines=2,
            elem_id="aq-review-note",
        )
        preview = gr.HTML("", elem_id="aq-review-preview", js_on_load=None)
        with gr.Row():
            save = gr.Button(
                "Save the composed answer", variant="primary", scale=0, min_width=260, elem_id="aq-review-save"
            )
            not_covered = gr.Button("Not covered by the course", scale=0, min_width=260, elem_id="aq-review-missing")
        status = gr.HTML("", elem_id="aq-review-status", js_on_load=None)
        table = gr.HTML("", elem_id="aq-reviews-table", js_on_load=None)
        with gr.Row(equal_height=True):
            pick = gr.Dropdown([], label="Reviewed answer", scale=4, elem_id="aq-reviews-pick")
            confirm = gr.Button("Confirm as it is", scale=0, min_width=180, elem_id="aq-reviews-confirm")
            delete = gr.Button("Delete", variant="stop", scale=0, min_width=120, elem_id="aq-reviews-delete")
        picked = gr.State([])  # the chosen sentences' keys, in answer order
        choices = gr.State([])  # the keys `found` lists now
    return SimpleNamespace(**{k: v for k, v in locals().items() if k not in ("gr", "shown")})


def move(picked: Sequence[str], key: str | None, step: int) -> list[str]:
    """`picked` with `key` moved `step` places (-1: up, +1: down; 0: removed)."""
    out = list(picked)
    if key not in out:
        return out
    i = out.index(key)
    if step == 0:
        out.pop(i)
    elif 0 <= i + step < len(out):
        out[i], out[i + step] = out[i + step], out[i]
    return out


def ticked(picked: Sequence[str], listed: Sequence[str], checked: Sequence[str]) -> list[str]:
    """The picks after ticking `checked` among the `listed` sentences: kept in order, new ones last."""
    kept = [k for k in picked if k in checked or k not in listed]
    return kept + [k for k in checked if k not in kept]


def wire_reviews_tab(
    gr: Any,
    views: Views,
    ui: SimpleNamespace,
    turns: Any,
    main_tabs: Any,
    teaches: Callable[[Any], bool],
    ask: SimpleNamespace | None = None,
    insight: SimpleNamespace | None = None,
) -> None:
    """The tab's events, and the buttons that open it from the chat (`ask`) and from Insight (`insight`)."""
    hidden: dict[str, Any] = {"show_progress": "hidden", "api_visibility": "private"}

    def require(request: Any) -> None:
        if not teaches(request):
            raise gr.Error("Only the course's instructors can review answers.")

    def order_view(picked: list[str], selected: str | None = None) -> Any:
        labels = [(f"{i}. {views.sentence_label(k)}", k) for i, k in enumerate(picked, 1)]
        return gr.Radio(choices=labels, value=selected if selected in picked else None)

    def listing() -> tuple[Any, ...]:
        found = views.reviews_now()
        choices = views.review_choices(found)
        first = choices[0][1] if choices else None
        return views.reviews_table(found), gr.Dropdown(choices=choices, value=first)

    listing_outputs = [ui.table, ui.pick]

    def opened(state: list[ChatTurn]) -> tuple[Any, ...]:
        picks = views.answer_choices(state)
        return gr.Dropdown(choices=picks, value=picks[0][1] if picks else None), *listing()

    def on_open(state: list[ChatTurn], request: gr.Request) -> tuple[Any, ...]:
        require(request)
        return opened(state)

    ui.tab.select(on_open, [turns], [ui.answer_pick, *listing_outputs], **hidden)

    def sentences(query: str, picked: list[str]) -> tuple[Any, ...]:
        try:
            found = views.review_sentences(query) if (query or "").strip() else []
        except AtlasError as exc:
            return gr.CheckboxGroup(choices=[], value=[]), [], failed(exc)
        keys = [k for _, k in found]
        return gr.CheckboxGroup(choices=found, value=[k for k in keys if k in picked]), keys, ""

    def on_search(query: str, picked: list[str], request: gr.Request) -> tuple[Any, ...]:
        require(request)
        return sentences(query, picked)

    search_io = ([ui.search, ui.picked], [ui.found, ui.choices, ui.status])
    ui.search_go.click(on_search, *search_io, **hidden)
    ui.search.submit(on_search, *search_io, **hidden)

    def on_tick(
        checked: list[str], picked: list[str], listed: list[str], question: str, note: str, request: gr.Request
    ) -> tuple[Any, ...]:
        require(request)
        picked = ticked(picked, listed, checked or [])
        return picked, order_view(picked), views.preview(question, picked, note)

    compose_outputs = [ui.picked, ui.order, ui.preview]
    ui.found.input(on_tick, [ui.found, ui.picked, ui.choices, ui.question, ui.note], compose_outputs, **hidden)

    def mover(step: int) -> Callable[..., tuple[Any, ...]]:
        def on_move(
            picked: list[str], key: str | None, listed: list[str], question: str, note: str, request: gr.Request
        ) -> tuple[Any, ...]:
            require(request)
            picked = move(picked, key, step)
            kept = [k for k in listed if k in picked]
            return picked, order_view(picked, key), views.preview(question, picked, note), gr.CheckboxGroup(value=kept)

        return on_move

    move_inputs = [ui.picked, ui.order, ui.choices, ui.question, ui.note]
    for button, step in ((ui.up, -1), (ui.down, 1), (ui.remove, 0)):
        button.click(mover(step), move_inputs, [*compose_outputs, ui.found], **hidden)

    def on_note(question: str, picked: list[str], note: str, request: gr.Request) -> str:
        require(request)
        return views.preview(question, picked, note)

    ui.note.change(on_note, [ui.question, ui.picked, ui.note], ui.preview, **hidden)

    def cleared() -> tuple[Any, ...]:
        return [], gr.Radio(choices=[], value=None), "", gr.CheckboxGroup(value=[]), ""

    cleared_outputs = [ui.picked, ui.order, ui.preview, ui.found, ui.note]

    def on_save(question: str, picked: list[str], note: str, request: gr.Request) -> tuple[Any, ...]:
        require(request)
        try:
            review = views.save_composed(question, picked, note, views.who(request))
        except AtlasError as exc:
            return failed(exc), *(gr.skip() for _ in listing_outputs), *(gr.skip() for _ in cleared_outputs)
        done = ok(f"Saved: students who ask “{review.questions[0]}” get this answer first.")
        return done, *listing(), *cleared()

    ui.save.click(on_save, [ui.question, ui.picked, ui.note], [ui.status, *listing_outputs, *cleared_outputs], **hidden)

    def on_missing(question: str, note: str, request: gr.Request) -> tuple[Any, ...]:
        require(request)
        try:
            review = views.save_not_covered(question, note, views.who(request))
        except AtlasError as exc:
            return failed(exc), gr.skip(), gr.skip()
        return ok(f"Marked not covered: “{review.questions[0]}” is listed in Insight as material to add."), *listing()

    ui.not_covered.click(on_missing, [ui.question, ui.note], [ui.status, *listing_outputs], **hidden)

    def endorsed(state: list[ChatTurn], t: int | None, note: str, request: Any) -> str:
        try:
            review = views.endorse(state, t, views.who(request), note)
        except AtlasError as exc:
            return failed(exc)
        return ok(f"Endorsed: students who ask “{review.questions[0]}” get this answer, labelled as reviewed.")

    def on_endorse(state: list[ChatTurn], t: int | None, note: str, request: gr.Request) -> tuple[Any, ...]:
        require(request)
        return endorsed(state, t, note, request), *listing()

    ui.endorse.click(on_endorse, [turns, ui.answer_pick, ui.note], [ui.status, *listing_outputs], **hidden)

    def on_confirm(review_id: str | None, request: gr.Request) -> tuple[Any, ...]:
        require(request)
        try:
            review = views.confirm_review(review_id or "", views.who(request))
        except AtlasError as exc:
            return failed(exc), gr.skip(), gr.skip()
        return ok(f"Confirmed: “{review.questions[0]}” is answered with it again."), *listing()

    def on_delete(review_id: str | None, request: gr.Request) -> tuple[Any, ...]:
        require(request)
        try:
            views.delete_review(review_id or "")
        except AtlasError as exc:
            return failed(exc), gr.skip(), gr.skip()
        return ok("Deleted: that question gets the usual answer again."), *listing()

    ui.confirm.click(on_confirm, [ui.pick], [ui.status, *listing_outputs], **hidden)
    ui.delete.click(on_delete, [ui.pick], [ui.status, *listing_outputs], **hidden)

    def open_with(question: str, state: list[ChatTurn], t: int | None = None) -> tuple[Any, ...]:
        """The tab opened on `question`: its passages searched, nothing picked yet."""
        found, keys, message = sentences(question, [])
        picks = views.answer_choices(state)
        pick = t if t is not None else None
        return (
            gr.Tabs(selected="reviews"),
            question,
            question,
            found,
            keys,
            message,
            gr.Dropdown(choices=picks, value=pick),
            *listing(),
            *cleared(),
        )

    open_outputs = [main_tabs, ui.question, ui.search, ui.found, ui.choices, ui.status, ui.answer_pick]
    open_outputs += [*listing_outputs, *cleared_outputs]

    if ask is not None:

        def on_review_latest(state: list[ChatTurn], request: gr.Request) -> tuple[Any, ...]:
            require(request)
            t = latest(state)
            if t is None:
                raise gr.Error("Ask a question first: there is no answer to review.")
            return open_with(state[t].asked or state[t].question, state, t)

        ask.review_latest.click(on_review_latest, [turns], open_outputs, **hidden)

        def on_endorse_latest(state: list[ChatTurn], request: gr.Request) -> str:
            require(request)
            return endorsed(state, latest(state), "", request)

        ask.endorse_latest.click(on_endorse_latest, [turns], ask.review_status, **hidden)

    if insight is not None:

        def on_review_question(question: str | None, state: list[ChatTurn], request: gr.Request) -> tuple[Any, ...]:
            require(request)
            if not question:
                raise gr.Error("Pick a question to review first.")
            return open_with(question, state)

        insight.review_go.click(on_review_question, [insight.review_pick, turns], open_outputs, **hidden)


def latest(state: Sequence[ChatTurn]) -> int | None:
    """The conversation's latest answered turn (None when there is none)."""
    return next((t for t in range(len(state) - 1, -1, -1) if state[t].answer is not None), None)
