"""Reviewing answers (instructors): endorse a chat answer, compose one from course sentences, mark a question not
covered; the course's reviewed answers with their use, "needs review" first. No Gradio (see `reviews_tab.py`).

The store and its rules are `atlas_qa.reviews.store`'s; these views only find the sentences to pick from, call the
store, and lay out what it returns. Without a store (`views.asker.reviews` is None) there is nothing to review.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import AtlasError, InvalidInputError
from ..spans import clean, sentence_spans
from .render import esc, shorten

if TYPE_CHECKING:
    from ..asking import Asker
    from ..reviews.store import Review, ReviewStore
    from .chat import ChatTurn

SEARCH_PASSAGES = 6  # passages searched for sentences to pick from
REFERENCE_LIST = re.compile(r"(?i)\b(references|bibliography|works cited|further reading)\s*$")  # listed last
KIND_LABELS = {"endorsed": "endorsed", "composed": "composed", "not_covered": "material to add"}


def span_key(page_id: str, start: int, end: int) -> str:
    """A picked sentence as a choice value: "page_id:start:end"."""
    return f"{page_id}:{start}:{end}"


def parse_key(key: str) -> tuple[str, int, int]:
    """`span_key`'s parts back (InvalidInputError for anything else)."""
    try:
        page_id, start, end = key.rsplit(":", 2)
        return page_id, int(start), int(end)
    except ValueError:
        raise InvalidInputError(f"Not a sentence of the course: {key!r}.") from None


def reviewed_label(review: Review) -> str:
    """The label over a reviewed answer in the chat, and the instructor's note, set apart from the course text."""
    note = (
        f'<div class="aq-reviewed-note"><span class="aq-reviewed-note-by">Instructor\'s note:</span> '
        f"{esc(review.note)}</div>"
        if review.note
        else ""
    )
    return (
        f'<div class="aq-reviewed"><div class="aq-reviewed-label">✓ Reviewed by your instructor, '
        f"{esc(review.day)}</div>{note}</div>"
    )


def usual_answer(answer: Any) -> str:
    """The usual answer, behind a "Show the usual answer" disclosure (a <details>: a keyboard-reachable control)."""
    if answer.refused:
        body = f"<p>Not covered by the course material: {esc(answer.answer)}</p>"
    else:
        text = " ".join(f"{esc(s.text)}{f' [{s.n}]' if s.n else ''}" for s in answer.sentences)
        cited = "".join(
            f"<li>[{c.n}] {esc(c.title)}{f' › {esc(c.section)}' if c.section else ''}</li>" for c in answer.citations
        )
        body = f"<p>{text}</p>" + (f'<ul class="aq-usual-sources">{cited}</ul>' if cited else "")
    return f'<details class="aq-usual"><summary>Show the usual answer</summary>{body}</details>'


class ReviewViews:
    """Mixed into `Views`, which provides `atlas` and `asker` (whose `reviews` is the store, or None)."""

    atlas: Any
    asker: Asker

    @property
    def review_store(self) -> ReviewStore | None:
        return getattr(self.asker, "reviews", None)

    @property
    def review_course(self) -> str:
        return str(getattr(getattr(self.atlas, "settings", None), "course", "default"))

    def _store(self) -> ReviewStore:
        if self.review_store is None:
            raise InvalidInputError("Reviewed answers are not stored in this app.")
        return self.review_store

    # -- composing --------------------------------------------------------------------------------------------------
    def review_sentences(self, query: str) -> list[tuple[str, str]]:
        """The sentences of the course passages closest to `query`, as choices ("sentence — title › section",
        `span_key`), best passage first (reference lists last: they hold no answer), each sentence once."""
        retrieval = self.atlas.search(query, k=SEARCH_PASSAGES)
        out: dict[str, str] = {}
        passages = sorted(retrieval.passages, key=lambda p: bool(REFERENCE_LIST.search(p.chunk.section)))
        for passage in passages:
            chunk = passage.chunk
            text = self.atlas.document(chunk.page_id).text
            where = chunk.title + (f" › {chunk.section}" if chunk.section else "")
            for start, end in sentence_spans(text, chunk.start, chunk.end):
                sentence = clean(text[start:end])
                if len(sentence) > 2:
                    out.setdefault(span_key(chunk.page_id, start, end), f"{sentence} — {where}")
        return [(label, key) for key, label in out.items()]

    def sentence_label(self, key: str) -> str:
        """A picked sentence as the order list shows it: its text and page."""
        page_id, start, end = parse_key(key)
        try:
            doc = self.atlas.document(page_id)
        except (AtlasError, KeyError):
            return f"(page {page_id} is gone)"
        return f"{shorten(clean(doc.text[start:end]), 160)} — {doc.title}"

    def preview(self, question: str, picked: Sequence[str], note: str) -> str:
        """The composed answer as students will see it (label, note, sentences with [n] and their pages)."""
        if not picked:
            return '<p class="aq-sub">Pick sentences above: the answer is made of them, in the order listed.</p>'
        from ..reviews.store import compose

        try:
            answer = compose(self.atlas.document, question or "?", [parse_key(k) for k in picked])
        except AtlasError as exc:
            return f'<p class="aq-error" role="alert">{esc(exc)}</p>'
        note_html = (
            f'<div class="aq-reviewed-note"><span class="aq-reviewed-note-by">Instructor\'s note:</span> '
            f"{esc(note.strip())}</div>"
            if note.strip()
            else ""
        )
        text = " ".join(f"{esc(s.text)} [{s.n}]" for s in answer.sentences)
        cited = "".join(
            f"<li>[{c.n}] {esc(c.title)}{f' › {esc(c.section)}' if c.section else ''}"
            f"{f' ({esc(c.speaker)})' if c.speaker else ''}</li>"
            for c in answer.citations
        )
        return f'<div class="aq-review-preview">{note_html}<p>{text}</p><ul class="aq-usual-sources">{cited}</ul></div>'

    def save_composed(self, question: str, picked: Sequence[str], note: str, by: str) -> Review:
        """Store a composed answer to `question` made of the picked sentences, in order."""
        from ..reviews.store import compose

        question = _question(question)
        answer = compose(self.atlas.document, question, [parse_key(k) for k in picked])
        return self._store().create(self.review_course, [question], "composed", answer, note, by, self.atlas.page_hash)

    def save_not_covered(self, question: str, note: str, by: str) -> Review:
        """Mark `question` as not covered by the course (listed as material to add)."""
        return self._store().create(
            self.review_course, [_question(question)], "not_covered", None, note, by, self.atlas.page_hash
        )

    def endorse(self, turns: Sequence[ChatTurn], t: int | None, by: str, note: str = "") -> Review:
        """Store answer `t` of this conversation as it was given (its stand-alone question is the one reviewed)."""
        if t is None or not 0 <= t < len(turns) or turns[t].answer is None:
            raise InvalidInputError("Pick an answer of the conversation to endorse.")
        turn = turns[t]
        answer = turn.usual if turn.usual is not None else turn.answer
        assert answer is not None
        if not answer.sentences:
            raise InvalidInputError(
                "A refused answer cannot be endorsed: compose one from course sentences, or mark it not covered."
            )
        question = turn.asked or turn.question
        return self._store().create(self.review_course, [question], "endorsed", answer, note, by, self.atlas.page_hash)

    # -- the course's reviews ---------------------------------------------------------------------------------------
    def reviews_now(self) -> list[Review]:
        """The course's reviews, "needs review" first, then newest first (each with what changed in its pages)."""
        store = self.review_store
        if store is None:
            return []
        found = store.list(self.review_course, self.atlas.page_hash)
        return sorted(found, key=lambda r: not r.stale)  # stable: newest first within each group

    def review_choices(self, found: Sequence[Review]) -> list[tuple[str, str]]:
        return [(f"{_status(r)}: {shorten(r.questions[0], 90)}", r.id) for r in found]

    def reviews_table(self, found: Sequence[Review]) -> str:
        """The reviewed answers with their uses and ratings; those that need review say what changed."""
        log = getattr(self.asker, "log", None)
        uses: dict[str, tuple[int, int, int]] = {}
        if log is not None:
            log.flush()
            uses = log.review_uses(self.review_course)
        if not found:
            return (
                '<p class="aq-sub aq-none">No reviewed answers yet. Review an answer from the chat, or a question '
                "from Insight's gaps.</p>"
            )
        stale = sum(r.stale for r in found)
        head = "".join(
            f'<th scope="col">{h}</th>'
            for h in ("Status", "Question", "Answer", "By", "Date", "Uses", "Helpful", "Not helpful")
        )
        rows = []
        for r in found:
            n, up, down = uses.get(r.id, (0, 0, 0))
            status = f'<span class="aq-flag">{esc(_status(r))}</span>' if r.stale else esc(_status(r))
            changed = "".join(f"<li>{esc(c)}</li>" for c in r.changes)
            changed_html = f'<ul class="aq-cell-list">{changed}</ul>' if changed else ""
            answer = shorten(str(r.answer.get("answer", "")), 200) if r.answer else "(not covered: material to add)"
            note = f'<div class="aq-reviewed-note">Note: {esc(r.note)}</div>' if r.note else ""
            rows.append(
                f"<tr><td>{status}{changed_html}</td><td>{esc(' | '.join(r.questions))}</td>"
                f"<td>{esc(answer)}{note}</td><td>{esc(r.by)}</td><td>{esc(r.day)}</td>"
                f"<td>{n}</td><td>{up}</td><td>{down}</td></tr>"
            )
        return (
            f'<h3 class="aq-h" id="aq-reviews-h">Reviewed answers <span class="aq-count">{len(found)}</span></h3>'
            + (f'<p class="aq-sub"><b>{stale} need review</b>: a page they cite changed.</p>' if stale else "")
            + '<div class="aq-table-wrap" tabindex="0" role="region" aria-labelledby="aq-reviews-h">'
            f'<table class="aq-table" data-table="reviews"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>"
        )

    def confirm_review(self, review_id: str, by: str) -> Review:
        """Save the review again as it is: confirmed against its pages as they are now."""
        store = self._store()
        return store.update(self._own(review_id), by, self.atlas.page_hash)

    def delete_review(self, review_id: str) -> None:
        self._store().delete(self._own(review_id))

    def _own(self, review_id: str) -> Review:
        """The review `review_id` of this app's course (NotFoundError otherwise)."""
        from ..errors import NotFoundError

        review = self._store().get(review_id or "")
        if review.course != self.review_course:
            raise NotFoundError(f"No review {review_id!r} in this course.")
        return review

    def material_to_add(self) -> str:
        """The questions instructors marked not covered: the material the course should add ("" when none)."""
        missing = [r for r in self.reviews_now() if r.kind == "not_covered"]
        if not missing:
            return ""
        items = "".join(
            f"<li>{esc(r.questions[0])}" + (f' <span class="aq-sub">({esc(r.note)})</span>' if r.note else "") + "</li>"
            for r in missing
        )
        return (
            f'<h3 class="aq-h">Material to add <span class="aq-count">{len(missing)}</span></h3>'
            '<p class="aq-sub">Questions an instructor marked as not covered by the course pages.</p>'
            f'<ul class="aq-material">{items}</ul>'
        )


def gap_questions(ins: Any) -> list[str]:
    """The refused and thumbs-down questions of an `Insights` (its gaps), each once, for the review picker."""
    return list(dict.fromkeys(q for g in getattr(ins, "gaps", ()) for q in g.questions))


def _status(review: Review) -> str:
    if review.stale:
        return "needs review"
    return KIND_LABELS.get(review.kind, review.kind)


def _question(question: str) -> str:
    question = " ".join((question or "").split())
    if not question:
        raise InvalidInputError("Type the question this answer is for.")
    return question
