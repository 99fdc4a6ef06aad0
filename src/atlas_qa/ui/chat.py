"""The conversation: a session's turns, the chat messages they render to, asking and rating. No Gradio."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..core import check_question
from ..errors import AtlasError
from ..ratings import FeedbackStore

if TYPE_CHECKING:
    from ..asking import Asker
    from ..reviews.store import Review
from ..types import Answer, AttributionRow
from .render import esc
from .reviews import reviewed_label, usual_answer

log = logging.getLogger(__name__)

STREAM_STEPS, STREAM_DELAY = 14, 0.025  # an answer appears in about this many steps, this many seconds apart


@dataclass(frozen=True)
class ChatTurn:
    """One question of the conversation: as typed, as retrieved with, and its answer (or the error it met)."""

    question: str
    asked: str = ""
    answer: Answer | None = None
    error: str = ""
    filters: dict[str, str] = field(default_factory=dict)
    log_id: str = ""  # its question-log record, which a rating goes onto
    rows: tuple[AttributionRow, ...] = ()  # the answer's attribution, computed once when it was asked
    reviewed: Review | None = None  # the instructor's review `answer` is (then `usual` is the usual answer)
    usual: Answer | None = None


def history(turns: Sequence[ChatTurn]) -> list[tuple[str, Answer | None]]:
    """The conversation as `Atlas.ask(question, history=...)` takes it."""
    return [(t.question, t.answer) for t in turns]


def _marker(t: int, n: int, title: str = "") -> str:
    tip = f' title="{esc(f"Source {n}: {title}")}"' if title else ""
    return f'<a class="aq-cite" href="#src-{t}-{n}"{tip}>[{n}]</a>'


def answer_fragments(t: int, answer: Answer) -> list[str]:
    """The answer as HTML fragments (escaped words, each sentence followed by its [n] marker linking to its source),
    for streaming."""
    titles = {c.n: c.title for c in answer.citations}
    out: list[str] = []
    for s in answer.sentences:
        out += [esc(w) for w in s.text.split()]
        if s.n in titles:
            out.append(_marker(t, s.n, titles[s.n]))
    return out


def _filters_note(filters: dict[str, str]) -> str:
    return ", ".join(f"{k} = {v}" for k, v in filters.items())


def render_reply(t: int, turn: ChatTurn, titles: Callable[[str], str] = lambda p: p, partial: int | None = None) -> str:
    """The assistant's message for turn `t`: the answer with linked markers, a refusal, an error, or a placeholder.

    `partial`: show only the first `partial` fragments of the answer (streaming).
    """
    if turn.error:
        return f'<div class="aq-error">{esc(turn.error)}</div>'
    answer = turn.answer
    if answer is None:
        return '<div class="aq-pending">Searching the course material<span class="aq-dots"></span></div>'
    if answer.refused:
        pages = "".join(f"<li>{esc(titles(p))}</li>" for p in answer.closest_pages)
        where = f" within {esc(_filters_note(turn.filters))}" if turn.filters else ""
        closest = f'<div class="aq-closest">Closest pages:<ul>{pages}</ul></div>' if pages else ""
        return (
            '<div class="aq-refusal"><div class="aq-refusal-title">Not covered by the course material</div>'
            f"<p>{esc(answer.answer)} No passage{where} answers it closely enough, so nothing is made up.</p>"
            f"{closest}</div>"
        )
    fragments = answer_fragments(t, answer)
    label = reviewed_label(turn.reviewed) if turn.reviewed is not None else ""
    if partial is not None and partial < len(fragments):
        return f'{label}<div class="aq-answer">{" ".join(fragments[:partial])}<span class="aq-caret"></span></div>'
    notes = []
    if turn.asked and turn.asked != turn.question:
        notes.append(f"Searched for “{esc(turn.asked)}”")
    if turn.filters:
        notes.append(f"Filtered to {esc(_filters_note(turn.filters))}")
    if answer.generated:
        notes.append("Written by a language model from the cited passages")
    meta = f'\n\n<div class="aq-meta">{" · ".join(notes)}</div>' if notes else ""
    usual = usual_answer(turn.usual) if turn.reviewed is not None and turn.usual is not None else ""
    return f'{label}<div class="aq-answer">{" ".join(fragments)}</div>{usual}{meta}'


def render_question(question: str) -> str:
    return f'<div class="aq-question">{esc(question)}</div>'


def render_messages(turns: Sequence[ChatTurn], titles: Callable[[str], str] = lambda p: p) -> list[dict[str, str]]:
    """The Chatbot's value: two messages a turn (so message i belongs to turn i // 2)."""
    messages = []
    for t, turn in enumerate(turns):
        messages.append({"role": "user", "content": render_question(turn.question)})
        messages.append({"role": "assistant", "content": render_reply(t, turn, titles)})
    return messages


class ChatViews:
    """Asking (streamed) and rating; mixed into `Views`, which provides `atlas`, `feedback`, `title` and `sources`."""

    atlas: Any
    asker: Asker
    feedback: FeedbackStore
    title: Callable[[str], str]
    sources: Callable[..., str]
    sources_loading: Callable[[], str]

    def ask(
        self, question: str, turns: Sequence[ChatTurn], filters: dict[str, str] | None = None, user: str = "local"
    ) -> ChatTurn:
        """Answer one question in the context of the conversation (logged as `user`'s, `asking.Asker`); errors become
        the turn's message."""
        filters = {k: v for k, v in (filters or {}).items() if v}  # what the reply says it was filtered to
        try:
            asked = self.asker.ask(user, question or "", filters, history(turns))
            a = asked.answer
            return ChatTurn(
                a.question,
                a.searched or a.question,
                a,
                filters=filters,
                log_id=asked.log_id,
                rows=asked.rows,
                reviewed=asked.reviewed,
                usual=asked.usual,
            )
        except AtlasError as exc:
            return ChatTurn(question or "", error=str(exc), filters=filters)
        except Exception:  # an unexpected failure still ends the turn with a message, and the log has the details
            log.exception("answering %r failed", question)
            return ChatTurn(
                question or "",
                error="Something went wrong answering this; the details are in the server log.",
                filters=filters,
            )

    def stream(
        self,
        question: str,
        turns: Sequence[ChatTurn],
        filters: dict[str, str] | None = None,
        delay: float = STREAM_DELAY,
        user: str = "local",
    ) -> Iterator[tuple[list[dict[str, str]], str | None, list[ChatTurn]]]:
        """The chat as it fills in: (messages, sources HTML or None when unchanged, turns). A question that cannot be
        asked (empty, no words) adds no turn: the sentence is shown above the sources, with nothing to rate."""
        turns = list(turns or [])
        try:
            check_question(question or "")
        except AtlasError as exc:
            notice = f'<p class="aq-error" role="alert">{esc(exc)}</p>'
            yield render_messages(turns, self.title), notice + self.sources(turns), turns
            return
        pending = ChatTurn((question or "").strip())
        yield render_messages([*turns, pending], self.title), self.sources_loading(), turns
        turn = self.ask(question, turns, filters, user)
        done = [*turns, turn]
        messages = render_messages(done, self.title)
        if turn.answer is not None and not turn.answer.refused:
            t, fragments = len(turns), answer_fragments(len(turns), turn.answer)
            step = max(1, -(-len(fragments) // STREAM_STEPS))
            for shown in range(step, len(fragments), step):
                messages[-1]["content"] = render_reply(t, turn, self.title, partial=shown)
                yield messages, self.sources(done, t) if shown == step else None, turns
                time.sleep(delay)
            messages = render_messages(done, self.title)
        yield messages, self.sources(done, len(done) - 1), done

    def rate(
        self, turns: Sequence[ChatTurn], message: int, helpful: bool, rated: dict[int, str]
    ) -> tuple[str, int | None]:
        """Store (or change) the rating of the answer shown as chat message `message`; returns (note, turn rated)."""
        t = message // 2
        if message % 2 == 0 or not 0 <= t < len(turns) or turns[t].answer is None:
            return "Only answers can be rated.", None
        turn = turns[t]
        assert turn.answer is not None
        if t in rated or turn.log_id:
            rated[t] = rated.get(t) or turn.log_id
            self.feedback.update(rated[t], helpful=helpful)
        else:
            rated[t] = self.feedback.add(turn.question, turn.answer, helpful)
        verdict = "helpful" if helpful else "not helpful"
        return f"Thanks: answer {t + 1} saved as **{verdict}**. Add a comment if you like.", t

    def comment(self, rated: dict[int, str], t: int | None, text: str) -> str:
        if t is None or t not in rated:
            return "Rate an answer first (thumbs under it)."
        if not text.strip():
            return "The comment is empty."
        self.feedback.update(rated[t], comment=text)
        return f"Comment saved for answer {t + 1}. Thank you."
