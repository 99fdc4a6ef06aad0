"""The Gradio app: `build_app(atlas)` makes the Blocks, `launch_options(settings)` says how to serve them safely,
`serve(settings)` does both. Thin over `Atlas`.

Everything shown from the course material is HTML-escaped here before it reaches the browser, and the only markup
added is ours, so HTML or script inside a page is shown as text and never runs. The layers:

- renderers: pure functions from Answers and Documents to HTML strings;
- `Views`: what each part of the app shows for the session's state, computed from the Atlas (no Gradio);
- `build_app`: components and their wiring; `launch_options` / `serve`: where and how the app listens.
"""

# No `from __future__ import annotations` here: Gradio finds the event-data parameters of the callbacks (gr.LikeData,
# gr.EventData) by their annotations, which must be real objects since `gradio` is only imported inside build_app.

import csv
import html
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .answer import clean
from .attribution import FOOTNOTE_REF, cites_in_span, find_citations, page_locator, resolve_reference, speaker_cites
from .attribution import chain_for_span as _chain_for_span
from .config import Settings
from .conversation import rewrite
from .core import MAX_QUESTION_CHARS, check_question
from .errors import AtlasError, ConfigError
from .feedback import FeedbackStore, citation_label, safe_cell
from .render import render_document, render_inline, render_passage
from .types import Answer, Citation, Cite, Document, answer_json, course_source, error_json

log = logging.getLogger(__name__)

CONCURRENCY = 4  # questions answered at once; more wait in the queue
FACETS = ("course", "topic", "chapter")
STREAM_STEPS, STREAM_DELAY = 14, 0.025  # an answer appears in about this many steps, this many seconds apart
EXAMPLES = {
    "atlas107/digital-technology-and-service-delivery.txt": [
        "Who argued that IT-enabled government could consolidate functions previously located separately in each "
        "department?",
        "How has digital technology changed public service delivery?",
        "What did Pal say about rule-bound bureaucracies?",
    ],
    "m00002": ["What are de jure and de facto rules?"],
}
ATTRIBUTION_COLUMNS = [
    "n",
    "cited span",
    "speaker",
    "page locator",
    "quotation chain",
    "cited work",
    "full reference",
    "page",
    "section",
]


def esc(text: object) -> str:
    """Course text as safe HTML text: every <, >, &, and quote escaped."""
    return html.escape(str(text), quote=True)


# -- spans ---------------------------------------------------------------------------------------------------------

_NOISE = re.compile(r"\[\^[^\]\s]+\]|\*\*")  # what `answer.clean` drops from a page sentence


def _folded(text: str) -> tuple[str, list[int]]:
    """`text` as `answer.clean` shows it, with the offset in `text` of each character kept."""
    out: list[str] = []
    where: list[int] = []
    i = 0
    while i < len(text):
        m = _NOISE.match(text, i)
        if m:
            i = m.end()
            continue
        ch = text[i]
        if ch.isspace():
            if out and out[-1] != " ":
                out.append(" ")
                where.append(i)
        else:
            out.append(ch)
            where.append(i)
        i += 1
    if out and out[-1] == " ":
        out.pop()
        where.pop()
    return "".join(out), where


def locate(text: str, sentence: str) -> tuple[int, int] | None:
    """Where an answer sentence (cleaned, white space folded) sits in `text`, as offsets into `text`."""
    target = clean(sentence)
    if not target:
        return None
    folded, where = _folded(text)
    i = folded.find(target)
    if i < 0:
        return None
    return where[i], where[i + len(target) - 1] + 1


def chunk_offset(page_text: str, chunk_text: str, start: int, end: int) -> int | None:
    """Where the passage (a chunk of the page) starts in the page: the occurrence that holds the span [start, end)."""
    first, i = None, page_text.find(chunk_text)
    while i >= 0:
        first = i if first is None else first
        if i <= start and end <= i + len(chunk_text):
            return i
        i = page_text.find(chunk_text, i + 1)
    return first


def answer_sentences(answer: Answer) -> list[tuple[str, int]]:
    """The answer's "sentence [n]" pieces, in order."""
    return [(text, int(n)) for text, n in re.findall(r"(.+?) \[(\d+)\](?=\s|$)", answer.answer)]


def cited_numbers(answer: Answer) -> list[int]:
    """The citation numbers the answer text uses, in order of first use."""
    return list(dict.fromkeys(n for _, n in answer_sentences(answer)))


def _merge(spans: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for a, b in sorted(s for s in spans if s[1] > s[0]):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged


def highlight(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """`text` HTML-escaped, with each span (offsets into `text`) wrapped in <mark>."""
    out, pos = [], 0
    for a, b in _merge([(max(0, a), min(len(text), b)) for a, b in spans]):
        out += [esc(text[pos:a]), "<mark>", esc(text[a:b]), "</mark>"]
        pos = b
    out.append(esc(text[pos:]))
    return "".join(out)


@dataclass(frozen=True)
class Layer:
    """A span of a page to show: a CSS class, an optional tag shown where it starts and a tooltip."""

    start: int
    end: int
    cls: str
    tag: str = ""
    title: str = ""


def render_layers(text: str, layers: Sequence[Layer]) -> str:
    """`text` HTML-escaped, each stretch wrapped in a <span> with the classes of the layers over it (overlaps allowed);
    a layer with the class "hit" makes its stretches <mark>s."""
    layers = [ly for ly in layers if 0 <= ly.start < ly.end <= len(text)]
    cuts = sorted({0, len(text), *(ly.start for ly in layers), *(ly.end for ly in layers)})
    out = []
    for a, b in zip(cuts, cuts[1:]):
        out += [f'<span class="aq-tag {esc(ly.cls)}">{esc(ly.tag)}</span>' for ly in layers if ly.start == a and ly.tag]
        over = [ly for ly in layers if ly.start <= a and b <= ly.end]
        piece = esc(text[a:b])
        if not over:
            out.append(piece)
            continue
        classes = " ".join(dict.fromkeys(ly.cls for ly in over))
        titles = " · ".join(dict.fromkeys(ly.title for ly in over if ly.title))
        tag = "mark" if any(ly.cls == "hit" for ly in over) else "span"
        title = f' title="{esc(titles)}"' if titles else ""
        out.append(f'<{tag} class="{esc(classes)}"{title}>{piece}</{tag}>')
    return "".join(out)


# -- the session's state -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Turn:
    """One question of the conversation: as typed, as retrieved with, and its answer (or the error it met)."""

    question: str
    asked: str = ""
    answer: Answer | None = None
    error: str = ""
    filters: dict[str, str] = field(default_factory=dict)


def history(turns: Sequence[Turn]) -> list[tuple[str, Answer | None]]:
    """The conversation as `conversation.rewrite` takes it."""
    return [(t.question, t.answer) for t in turns]


# -- chat messages -------------------------------------------------------------------------------------------------


def _marker(t: int, n: int, title: str = "") -> str:
    tip = f' title="{esc(f"Source {n}: {title}")}"' if title else ""
    return f'<a class="aq-cite" href="#src-{t}-{n}"{tip}>[{n}]</a>'


def answer_fragments(t: int, answer: Answer) -> list[str]:
    """The answer as HTML fragments (escaped words and [n] markers linking to their sources), for streaming."""
    titles = {c.n: c.title for c in answer.citations}
    out: list[str] = []
    for piece in re.split(r"(\[\d+\])", answer.answer):
        m = re.fullmatch(r"\[(\d+)\]", piece)
        if m and int(m.group(1)) in titles:
            out.append(_marker(t, int(m.group(1)), titles[int(m.group(1))]))
        else:
            out += [esc(w) for w in piece.split()]
    return out


def _filters_note(filters: dict[str, str]) -> str:
    return ", ".join(f"{k} = {v}" for k, v in filters.items())


def render_reply(t: int, turn: Turn, titles: Callable[[str], str] = lambda p: p, partial: int | None = None) -> str:
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
    if partial is not None and partial < len(fragments):
        return f'<div class="aq-answer">{" ".join(fragments[:partial])}<span class="aq-caret"></span></div>'
    notes = []
    if turn.asked and turn.asked != turn.question:
        notes.append(f"Searched for “{esc(turn.asked)}”")
    if turn.filters:
        notes.append(f"Filtered to {esc(_filters_note(turn.filters))}")
    if answer.generated:
        notes.append("Written by a language model from the cited passages")
    meta = f'\n\n<div class="aq-meta">{" · ".join(notes)}</div>' if notes else ""
    return f'<div class="aq-answer">{" ".join(fragments)}</div>{meta}'


def render_question(question: str) -> str:
    return f'<div class="aq-question">{esc(question)}</div>'


def render_messages(turns: Sequence[Turn], titles: Callable[[str], str] = lambda p: p) -> list[dict[str, str]]:
    """The Chatbot's value: two messages a turn (so message i belongs to turn i // 2)."""
    messages = []
    for t, turn in enumerate(turns):
        messages.append({"role": "user", "content": render_question(turn.question)})
        messages.append({"role": "assistant", "content": render_reply(t, turn, titles)})
    return messages


# -- the sources panel ---------------------------------------------------------------------------------------------

WELCOME = (
    '<div class="aq-empty"><div class="aq-empty-title">Sources appear here</div>'
    "<p>Every sentence of an answer is quoted from a course page and ends with a marker such as "
    '<span class="aq-cite">[1]</span>. Click a marker to see its passage with the quoted words highlighted, who is '
    "speaking and where, and the full reference of every work cited.</p></div>"
)


class Views:
    """What each part of the app shows, from the Atlas and the session's state. Plain values in and out: no Gradio."""

    def __init__(self, atlas: Any, feedback: FeedbackStore | None = None, export_dir: Path | None = None) -> None:
        self.atlas = atlas
        settings = getattr(atlas, "settings", None)
        index_dir = Path(getattr(settings, "index_dir", "embeddings"))
        self.feedback = feedback or FeedbackStore.for_index(index_dir, getattr(settings, "course", "default"))
        self.corpus = Path(getattr(settings, "corpus", "corpus")).resolve()
        self._export_dir = export_dir

    # -- lookups ---------------------------------------------------------------------------------------------------

    def document(self, page_id: str) -> Document | None:
        try:
            return self.atlas.index.document(page_id)  # type: ignore[no-any-return]
        except (AtlasError, AttributeError, KeyError):
            return None

    def title(self, page_id: str) -> str:
        doc = self.document(page_id)
        return f"{doc.title} ({page_id})" if doc and doc.title and doc.title != page_id else page_id

    def highlights(self, answer: Answer, c: Citation) -> tuple[Document | None, int | None, list[tuple[int, int]]]:
        """The page, the passage's offset in it, and the spans of the passage that the answer quotes under [n]."""
        doc = self.document(c.page_id)
        local: list[tuple[int, int]] = []
        offset = None
        if doc is not None:
            offset = chunk_offset(doc.text, c.text, c.start, c.end)
            span = doc.text[c.start : c.end]
            if offset is not None and offset <= c.start and c.end <= offset + len(c.text):
                local.append((c.start - offset, c.end - offset))
            elif span and span in c.text:
                local.append((c.text.index(span), c.text.index(span) + len(span)))
        for sentence, n in answer_sentences(answer):
            if n == c.n and (where := locate(c.text, sentence)):
                local.append(where)
        if c.n not in cited_numbers(answer) or _merge(local) == [(0, len(c.text))]:
            local = []  # a passage retrieved but not quoted: nothing to point at
        return doc, offset, _merge(local)

    # -- chat ------------------------------------------------------------------------------------------------------

    def ask(self, question: str, turns: Sequence[Turn], filters: dict[str, str] | None = None) -> Turn:
        """Answer one question in the context of the conversation; errors become the turn's message."""
        filters = {k: v for k, v in (filters or {}).items() if v}
        try:
            question = check_question(question or "")
            asked = rewrite(question, history(turns))
            if len(asked) > MAX_QUESTION_CHARS:
                asked = question
            answer = self.atlas.ask(asked, filters=filters or None)
            return Turn(question, asked, answer, filters=filters)
        except AtlasError as exc:
            return Turn(question or "", error=str(exc), filters=filters)
        except Exception:  # an unexpected failure still ends the turn with a message, and the log has the details
            log.exception("answering %r failed", question)
            return Turn(
                question or "",
                error="Something went wrong answering this; the details are in the server log.",
                filters=filters,
            )

    def stream(
        self, question: str, turns: Sequence[Turn], filters: dict[str, str] | None = None, delay: float = STREAM_DELAY
    ) -> Iterator[tuple[list[dict[str, str]], str | None, list[Turn]]]:
        """The chat as it fills in: (messages, sources HTML or None when unchanged, turns)."""
        turns = list(turns or [])
        pending = Turn((question or "").strip())
        yield render_messages([*turns, pending], self.title), self.sources_loading(), turns
        turn = self.ask(question, turns, filters)
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

    # -- sources ---------------------------------------------------------------------------------------------------

    @staticmethod
    def sources_loading() -> str:
        return '<div class="aq-empty aq-loading"><div class="aq-empty-title">Finding the passages…</div></div>'

    def sources(self, turns: Sequence[Turn], t: int | None = None, focus: int | None = None) -> str:
        """The sources panel for turn `t` (default: the latest): cited passages first, then the others retrieved."""
        if not turns:
            return WELCOME
        t = len(turns) - 1 if t is None or not 0 <= t < len(turns) else t
        turn = turns[t]
        head = (
            f'<div class="aq-sources-head"><span class="aq-turn">Question {t + 1} of {len(turns)}</span>'
            f'<span class="aq-asked">{esc(turn.question)}</span></div>'
        )
        answer = turn.answer
        if turn.error or answer is None:
            body = f'<div class="aq-empty"><p>{esc(turn.error or "No answer yet.")}</p></div>'
        elif answer.refused:
            items = "".join(
                f'<li><span class="aq-title">{esc(self.title(p))}</span></li>' for p in answer.closest_pages
            )
            body = (
                '<div class="aq-refusal-panel"><div class="aq-refusal-title">No passage answers this</div>'
                "<p>The closest pages in the course are listed below; try naming a concept, person or term they use"
                f"{', or clear the filters' if turn.filters else ''}.</p><ul>{items}</ul></div>"
            )
        else:
            used = cited_numbers(answer)
            cited = sorted((c for c in answer.citations if c.n in used), key=lambda c: used.index(c.n))
            others = [c for c in answer.citations if c.n not in used]
            body = "".join(self.card(t, answer, c, focus == c.n) for c in cited)
            if others:
                open_ = " open" if focus in {c.n for c in others} else ""
                body += (
                    f'<details class="aq-more"{open_}><summary>{len(others)} more passage'
                    f"{'s' if len(others) > 1 else ''} retrieved, not quoted in the answer</summary>"
                    + "".join(self.card(t, answer, c, focus == c.n) for c in others)
                    + "</details>"
                )
        return f'<div class="aq-sources" data-turn="{t}">{head}{body}</div>'

    def card(self, t: int, answer: Answer, c: Citation, focus: bool = False) -> str:
        """One passage: page and section, who is quoted where, the passage with the quoted span marked, the works."""
        doc, _, spans = self.highlights(answer, c)
        who = []
        if c.chain:
            who.append(f'<div class="aq-row"><span class="aq-label">Quoted</span><span>{esc(c.chain)}</span></div>')
        if c.speaker:
            locator = f", {esc(page_locator(c.pages))}" if c.pages else ""
            ref = f'<div class="aq-ref">{esc(c.speaker_reference)}</div>' if c.speaker_reference else ""
            who.append(
                f'<div class="aq-row"><span class="aq-label">Speaker</span><span><b>{esc(c.speaker)}</b>'
                f"{locator}{ref}</span></div>"
            )
        if not who:
            who.append(
                '<div class="aq-row"><span class="aq-label">Speaker</span><span>the page itself (not a '
                "quotation)</span></div>"
            )
        works = "".join(
            f'<li><span class="aq-work">{render_inline(w.label)}</span> '
            + (f"{esc(w.reference)}" if w.reference else '<em class="aq-missing">not in the page’s references</em>')
            + "</li>"
            for w in c.cites
        )
        works_html = (
            f'<div class="aq-works"><div class="aq-label">Cited works</div><ul>{works}</ul></div>' if works else ""
        )
        section = f'<div class="aq-section">{esc(c.section)}</div>' if c.section else ""
        where = esc(c.page_id) + (f" · {esc(doc.format)}" if doc else "")
        return (
            f'<article class="aq-card{" aq-focus" if focus else ""}" id="src-{t}-{c.n}">'
            f'<header><span class="aq-n">{c.n}</span><div><div class="aq-title">{esc(c.title)}</div>{section}</div>'
            "</header>"
            f'<div class="aq-who">{"".join(who)}</div>'
            f'<blockquote class="aq-passage">{render_passage(c.text, spans, doc)}</blockquote>'
            f"{works_html}"
            f'<footer><span class="aq-pid">{where}</span><span class="aq-score">score {c.score:.2f}</span>'
            f'<button class="aq-open" type="button" data-open="{t}:{c.n}">Open page</button></footer>'
            "</article>"
        )

    def page(self, turns: Sequence[Turn], t: int, n: int) -> str:
        """The whole page of citation [n] of turn `t`, its passage shaded and the quoted span marked."""
        if not 0 <= t < len(turns) or turns[t].answer is None:
            return self.page_empty()
        answer = turns[t].answer
        assert answer is not None
        c = next((c for c in answer.citations if c.n == n), None)
        if c is None:
            return self.page_empty()
        doc, offset, spans = self.highlights(answer, c)
        if doc is None:
            return (
                f'<div class="aq-empty"><p>The page {esc(c.page_id)} is no longer in the index; its passage:'
                f"</p><blockquote class='aq-passage'>{highlight(c.text, spans)}</blockquote></div>"
            )
        layers = []
        if offset is not None:
            layers.append(Layer(offset, offset + len(c.text), "passage", title=f"Passage [{n}]"))
            layers += [Layer(offset + a, offset + b, "hit", title=f"Quoted in the answer [{n}]") for a, b in spans]
        chips = "".join(
            f'<span class="aq-chip"><b>{esc(k)}</b> {esc(doc.metadata[k])}</span>'
            for k in FACETS
            if doc.metadata.get(k)
        )
        return (
            f'<div class="aq-pageview"><div class="aq-page-head"><div class="aq-title">{esc(doc.title)}</div>'
            f'<div class="aq-pid">{esc(self.where(doc))}</div>'
            f'<div class="aq-chips">{chips}<span class="aq-chip aq-chip-hit">quoted in answer [{n}]</span>'
            f'<span class="aq-chip aq-chip-passage">passage [{n}]</span></div></div>'
            f'<div class="aq-page-text">{render_document(doc, layers)}</div></div>'
        )

    @staticmethod
    def page_empty() -> str:
        return (
            '<div class="aq-empty"><div class="aq-empty-title">No page open</div>'
            "<p>Use “Open page” on a source to read the whole page with the quoted span marked.</p></div>"
        )

    def where(self, doc: Document) -> str:
        """'page id · source' (the source only when it says more than the id)."""
        source = self.relative(doc.source)
        return doc.page_id if source == doc.page_id else f"{doc.page_id} · {source}"

    def relative(self, source: str) -> str:
        """A page's source shown relative to the corpus folder (the server's own paths stay private)."""
        return course_source(source, self.corpus)

    # -- attribution (instructors) ---------------------------------------------------------------------------------

    @staticmethod
    def answer_choices(turns: Sequence[Turn]) -> list[tuple[str, int]]:
        """(label, turn index) of every answered turn, newest first."""
        return [(f"{t + 1}. {turn.question[:90]}", t) for t, turn in reversed(list(enumerate(turns))) if turn.answer]

    def attribution_rows(self, answer: Answer | None) -> list[dict[str, str]]:
        """Every cited span of an answer -> speaker -> page locator -> cited work -> full reference; one row per work.

        A span is an answer sentence found in its page, attributed with the page's parse (quotations, citations);
        when the page cannot be read, the citation's own span and works are used.
        """
        if answer is None or answer.refused:
            return []
        by_n = {c.n: c for c in answer.citations}
        rows = []
        for sentence, n in answer_sentences(answer):
            c = by_n.get(n)
            if c is None:
                continue
            doc, offset, _ = self.highlights(answer, c)
            where = locate(c.text, sentence) if doc is not None and offset is not None else None
            if doc is not None and offset is not None and where:
                a, b = offset + where[0], offset + where[1]
                speaker, pages, _, chain = _chain_for_span(doc, a, b)
                works = _dedupe(cites_in_span(doc, a, b) + speaker_cites(doc, a, b)) or list(c.cites)
                span = doc.text[a:b]
            else:
                speaker, pages, chain, works, span = c.speaker, c.pages, c.chain, list(c.cites), clean(sentence)
            base = {
                "n": str(n),
                "cited span": " ".join(span.split()),
                "speaker": speaker,
                "page locator": page_locator(pages),
                "quotation chain": chain,
                "page": c.title + f" ({c.page_id})",
                "section": c.section,
            }
            for w in works or [Cite("", "")]:
                rows.append({**base, "cited work": w.label, "full reference": w.reference})
        return rows

    def attribution_table(self, turns: Sequence[Turn], t: int | None) -> str:
        """The attribution table of turn `t` as HTML (spans, speakers and references escaped)."""
        if t is None or not 0 <= t < len(turns) or turns[t].answer is None:
            return (
                '<div class="aq-empty"><div class="aq-empty-title">No answer yet</div><p>Ask a question in the Ask '
                "tab; its attribution shows here, one row per cited span and work.</p></div>"
            )
        answer = turns[t].answer
        assert answer is not None
        if answer.refused:
            return (
                f'<div class="aq-empty"><div class="aq-empty-title">Refused</div><p>“{esc(turns[t].question)}” '
                "was not answered, so nothing is attributed.</p></div>"
            )
        rows = self.attribution_rows(answer)
        body = []
        for i, r in enumerate(rows):
            first = i == 0 or rows[i - 1]["cited span"] != r["cited span"] or rows[i - 1]["n"] != r["n"]
            ref = (
                esc(r["full reference"])
                if r["full reference"]
                else ('<em class="aq-missing">no reference found</em>' if r["cited work"] else "")
            )
            body.append(
                f'<tr class="{"aq-first" if first else "aq-cont"}">'
                f'<td><span class="aq-n">{esc(r["n"])}</span></td>'
                f'<td class="aq-span-cell">{esc(r["cited span"]) if first else ""}</td>'
                f'<td><b>{esc(r["speaker"]) or "—"}</b><div class="aq-sub">{esc(r["quotation chain"])}</div></td>'
                f"<td>{esc(r['page locator']) or '—'}</td>"
                f'<td class="aq-work-cell">{esc(r["cited work"]) or "—"}</td>'
                f"<td>{ref}</td>"
                f'<td>{esc(r["page"])}<div class="aq-sub">{esc(r["section"])}</div></td></tr>'
            )
        return (
            f'<div class="aq-attr-q">Answer to “{esc(turns[t].question)}”'
            + (
                f' <span class="aq-sub">searched as “{esc(answer.question)}”</span>'
                if answer.question != turns[t].question
                else ""
            )
            + "</div>"
            '<div class="aq-table-wrap"><table class="aq-table aq-attr"><thead><tr><th>n</th><th>Cited span</th>'
            "<th>Speaker → chain</th><th>Locator</th><th>Cited work</th><th>Full reference</th><th>Page › section</th>"
            f"</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
        )

    def export_attribution(self, turns: Sequence[Turn], t: int | None, fmt: str) -> Path | None:
        """The answer's attribution as a CSV (the table's rows) or JSON (question, answer, rows, citations) file."""
        if t is None or not 0 <= t < len(turns) or turns[t].answer is None:
            return None
        answer = turns[t].answer
        assert answer is not None
        rows = self.attribution_rows(answer)
        path = self.export_dir() / f"attribution-{t + 1}.{fmt}"
        if fmt == "csv":
            _write_csv(path, ATTRIBUTION_COLUMNS, [[r[k] for k in ATTRIBUTION_COLUMNS] for r in rows])
        else:
            data = {
                "question": turns[t].question,
                "asked": answer.question,
                "answer": answer.answer,
                "refused": answer.refused,
                "rows": rows,
                "citations": [asdict(c) for c in answer.citations],
            }
            path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
        return path

    # -- the parse of a page (instructors) -------------------------------------------------------------------------

    def page_choices(self) -> list[tuple[str, str]]:
        try:
            return [(f"{p['title']} — {p['page_id']}", p["page_id"]) for p in self.atlas.index.pages()]
        except (AtlasError, AttributeError):
            return []

    def parse_view(self, page_id: str | None) -> str:
        """A page as the system parsed it: quotations, in-text citations and references over the text, with what
        did not resolve flagged, so a wrong parse shows at a glance."""
        doc = self.document(page_id) if page_id else None
        if doc is None:
            return '<div class="aq-empty"><p>Choose a page to see how it was parsed.</p></div>'
        refs_section = [(s.start, s.end) for s in doc.sections if s.path == "References"]
        layers: list[Layer] = []
        for s in doc.sections:
            layers.append(Layer(s.start, min(s.start + 1, s.end), "sec", tag=f"§ {s.path}"))
        quotes = sorted(doc.quotations, key=lambda q: (q.start, -q.end))
        q_rows = []
        for q in quotes:
            depth = sum(1 for o in doc.quotations if o is not q and o.start <= q.start and q.end <= o.end)
            ref = resolve_reference(doc, q.speaker.split()[-1]) if q.speaker else None
            locator = page_locator(q.pages)
            label = f"{q.speaker}, {locator}" if locator else q.speaker
            layers.append(Layer(q.start, q.end, f"q q{min(depth, 2)}", tag=f"❝ {label}", title=f"Quotation: {label}"))
            flag = "" if ref else ' <span class="aq-flag">no reference</span>'
            excerpt = " ".join(doc.text[q.start : q.end].split())
            q_rows.append(
                f"<tr><td><b>{esc(q.speaker) or '—'}</b>{flag}</td><td>{esc(locator) or '—'}</td>"
                f"<td>{q.start}–{q.end}</td><td>{esc(ref.text) if ref else '—'}</td>"
                f'<td class="aq-excerpt">{esc(_shorten(excerpt, 160))}</td></tr>'
            )
        c_rows, cited_keys = [], set()
        for c in find_citations(doc.text):
            if any(a <= c.start < b for a, b in refs_section):
                continue
            ref = resolve_reference(doc, c.surname, c.year)
            cited_keys.add(ref.key if ref else "")
            layers.append(
                Layer(
                    c.start,
                    c.end,
                    "cite" if ref else "cite bad",
                    title=ref.text if ref else "No reference on the page matches this citation",
                )
            )
            c_rows.append(f"<tr><td>{esc(c.label)}</td><td>{esc(ref.text) if ref else _flag('unresolved')}</td></tr>")
        notes = {r.key: r for r in doc.references if r.key.startswith("^")}
        for m in FOOTNOTE_REF.finditer(doc.text):
            ref = notes.get("^" + m.group(1))
            if any(a <= m.start() < b for a, b in refs_section):
                continue
            cited_keys.add(ref.key if ref else "")
            layers.append(
                Layer(
                    m.start(),
                    m.end(),
                    "cite" if ref else "cite bad",
                    title=ref.text if ref else "No footnote with this number",
                )
            )
            c_rows.append(
                f"<tr><td>{esc(m.group(0))}</td><td>{esc(ref.text) if ref else _flag('no such note')}</td></tr>"
            )
        speakers = {q.speaker.split()[-1] for q in doc.quotations if q.speaker}
        r_rows = []
        for r in doc.references:
            used = r.key in cited_keys or any(s in r.authors for s in speakers)
            problems = [] if r.key.startswith("^") or (r.authors and r.year) else ["authors or year not parsed"]
            if not used:
                problems.append("never cited")
            flags = "".join(_flag(p) for p in problems)
            r_rows.append(
                f"<tr><td><code>{esc(r.key)}</code></td><td>{esc(', '.join(r.authors)) or '—'}</td>"
                f"<td>{esc(r.year) or '—'}</td><td>{esc(r.text)} {flags}</td></tr>"
            )
        meta = [f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>" for k, v in sorted(doc.metadata.items())]
        bad = sum(1 for c in c_rows if "aq-flag" in c)
        summary = [
            f"<b>{len(doc.sections)}</b> sections",
            f"<b>{len(doc.quotations)}</b> quotations",
            f"<b>{len(c_rows)}</b> in-text citations"
            + (f' <span class="aq-flag">{bad} unresolved</span>' if bad else ""),
            f"<b>{len(doc.references)}</b> references",
            f"format <b>{esc(doc.format)}</b>",
        ]
        return (
            f'<div class="aq-parse"><div class="aq-page-head"><div class="aq-title">{esc(doc.title)}</div>'
            f'<div class="aq-pid">{esc(self.where(doc))}</div>'
            f'<div class="aq-chips">{"".join(f"<span class=aq-chip>{s}</span>" for s in summary)}</div></div>'
            + _table("Quotations", ["Speaker", "Locator", "Offsets", "Speaker’s reference", "Text"], q_rows)
            + _table("In-text citations", ["As written", "Resolved to"], c_rows)
            + _table("References", ["Key", "Authors", "Year", "Full text"], r_rows)
            + _table("Metadata", ["Field", "Value"], meta)
            + '<h4>Page text as parsed</h4><div class="aq-legend"><span class="q q0">quotation</span>'
            '<span class="q q1">nested quotation</span><span class="cite">citation, resolved</span>'
            '<span class="cite bad">citation, unresolved</span></div>'
            f'<div class="aq-page-text">{render_layers(doc.text, layers)}</div></div>'
        )

    def export_parse(self, page_id: str | None) -> Path | None:
        doc = self.document(page_id) if page_id else None
        if doc is None:
            return None
        path = self.export_dir() / f"parse-{re.sub(r'[^A-Za-z0-9._-]+', '_', doc.page_id)}.json"
        path.write_text(json.dumps(asdict(doc), ensure_ascii=False, indent=2), encoding="utf-8")
        return path

    # -- corpus (instructors) --------------------------------------------------------------------------------------

    def corpus_summary(self) -> str:
        try:
            pages = self.atlas.index.pages()
            last = self.atlas.index.last_ingest() or {}
        except (AtlasError, AttributeError):
            pages, last = [], {}
        skipped = last.get("skipped", [])
        when = _when(last["finished_at"]) if last.get("finished_at") else "never"
        tiles = _tiles(
            [("Pages", len(pages)), ("Passages", sum(p["chunks"] for p in pages)), ("Last indexed", when)],
            bad=[("Failed to load", len(skipped))],
        )
        counts = ", ".join(f"{last[k]} {k}" for k in ("added", "updated", "removed", "unchanged") if k in last)
        last_run = f'<div class="aq-sub">Last ingest: {esc(counts)}.</div>' if counts else ""
        if skipped:
            items = "".join(
                f"<li><code>{esc(self.relative(s.get('path', '')))}</code><span>{esc(s.get('reason', ''))}</span></li>"
                for s in skipped
            )
            failed = f'<div class="aq-skipped"><h4>Pages that failed to load</h4><ul>{items}</ul></div>'
        else:
            failed = '<div class="aq-ok">Every file of the last ingest loaded.</div>'
        return f"{tiles}{last_run}{failed}"

    def corpus_rows(self) -> list[list[Any]]:
        try:
            pages = self.atlas.index.pages()
        except (AtlasError, AttributeError):
            return []
        return [
            [p["title"], p["page_id"], p["chunks"], _when(p["indexed_at"]), self.relative(p["source"])] for p in pages
        ]

    def reindex(self, progress: Callable[[int, int], None] | None = None) -> str:
        """Re-read the corpus and sync the index (only changed pages are embedded again)."""
        try:
            report = self.atlas.ingest(progress=progress or False)
        except AtlasError as exc:
            return f'<div class="aq-error">{esc(exc)}</div>'
        skipped = f", {len(report.skipped)} failed to load" if report.skipped else ""
        return (
            f'<div class="aq-ok">Re-indexed: {report.added} added, {report.updated} updated, {report.removed} '
            f"removed, {report.unchanged} unchanged{skipped}; {report.chunks} passages "
            f"({report.embedded} embedded now).</div>"
        )

    def facets(self) -> dict[str, list[str]]:
        try:
            return dict(self.atlas.facets())
        except (AtlasError, AttributeError):
            return {}

    def stats(self) -> str:
        try:
            pages = self.atlas.index.pages()
        except (AtlasError, AttributeError):
            return ""
        n, chunks = len(pages), sum(p["chunks"] for p in pages)
        return f"{n} page{'s' if n != 1 else ''} · {chunks} passages indexed"

    def examples(self) -> list[str]:
        """Example questions for the pages in the index: curated ones, else one about each page's title."""
        try:
            pages = self.atlas.index.pages()
        except (AtlasError, AttributeError):
            return []
        found = [q for p in pages for q in EXAMPLES.get(p["page_id"], [])]
        found += [f"What does the course say about {p['title']}?" for p in pages if p["page_id"] not in EXAMPLES]
        return found[:4]

    # -- feedback --------------------------------------------------------------------------------------------------

    def rate(self, turns: Sequence[Turn], message: int, helpful: bool, rated: dict[int, int]) -> tuple[str, int | None]:
        """Store (or change) the rating of the answer shown as chat message `message`; returns (note, turn rated)."""
        t = message // 2
        if message % 2 == 0 or not 0 <= t < len(turns) or turns[t].answer is None:
            return "Only answers can be rated.", None
        turn = turns[t]
        assert turn.answer is not None
        if t in rated:
            self.feedback.update(rated[t], helpful=helpful)
        else:
            rated[t] = self.feedback.add(turn.question, turn.answer, helpful)
        verdict = "helpful" if helpful else "not helpful"
        return f"Thanks: answer {t + 1} saved as **{verdict}**. Add a comment if you like.", t

    def comment(self, rated: dict[int, int], t: int | None, text: str) -> str:
        if t is None or t not in rated:
            return "Rate an answer first (thumbs under it)."
        if not text.strip():
            return "The comment is empty."
        self.feedback.update(rated[t], comment=text)
        return f"Comment saved for answer {t + 1}. Thank you."

    def feedback_rows(self) -> list[list[str]]:
        return [
            [
                _when(f.created_at),
                "✓ helpful" if f.helpful else "✗ not helpful",
                f.question,
                ("(refused) " if f.refused else "") + f.answer,
                "; ".join(citation_label(c) for c in f.citations if f"[{c.get('n')}]" in f.answer),
                f.comment,
            ]
            for f in self.feedback.list()
        ]

    def feedback_summary(self) -> str:
        items = self.feedback.list()
        if not items:
            return '<div class="aq-sub">No feedback yet. Students rate answers with the thumbs under each one.</div>'
        helpful = sum(f.helpful for f in items)
        comments = sum(bool(f.comment) for f in items)
        return _tiles(
            [
                ("Ratings", len(items)),
                ("Helpful", f"{round(100 * helpful / len(items))}%"),
                ("With a comment", comments),
            ]
        )

    def export_feedback(self, fmt: str) -> Path:
        path = self.export_dir() / f"feedback.{fmt}"
        return self.feedback.export_csv(path) if fmt == "csv" else self.feedback.export_json(path)

    def export_dir(self) -> Path:
        """A private temp folder for downloads (Gradio copies a returned file into its own cache to serve it)."""
        if self._export_dir is None:
            self._export_dir = Path(tempfile.mkdtemp(prefix="atlas-qa-export-"))
        self._export_dir.mkdir(parents=True, exist_ok=True)
        return self._export_dir


def _dedupe(cites: Sequence[Cite]) -> list[Cite]:
    seen: set[str] = set()
    out = []
    for c in cites:
        key = c.reference or c.label
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out


def _tiles(tiles: Sequence[tuple[str, object]], bad: Sequence[tuple[str, int]] = ()) -> str:
    """Big numbers with a caption; a `bad` tile turns red when its number is not 0."""
    cells = [(name, value, "") for name, value in tiles] + [
        (name, value, " aq-tile-bad" if value else "") for name, value in bad
    ]
    return (
        '<div class="aq-tiles">'
        + "".join(
            f'<div class="aq-tile{cls}"><div class="aq-tile-value">{esc(value)}</div>'
            f'<div class="aq-tile-name">{esc(name)}</div></div>'
            for name, value, cls in cells
        )
        + "</div>"
    )


def _flag(text: str) -> str:
    return f' <span class="aq-flag">{esc(text)}</span>'


def _shorten(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def _table(title: str, headers: Sequence[str], rows: Sequence[str]) -> str:
    if not rows:
        return f'<h4>{esc(title)}</h4><div class="aq-sub">None found.</div>'
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    return (
        f'<h4>{esc(title)} <span class="aq-count">{len(rows)}</span></h4>'
        f'<div class="aq-table-wrap"><table class="aq-table"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _when(ts: float) -> str:
    return time.strftime("%d %b %Y, %H:%M", time.localtime(ts))


def _write_csv(path: Path, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(headers)
        writer.writerows([[safe_cell(v) for v in row] for row in rows])


# -- the app -------------------------------------------------------------------------------------------------------


def render_header(stats: str) -> str:
    return (
        '<div class="aq-header"><div class="aq-brand"><span class="aq-logo">◎</span>atlas-qa</div>'
        '<div class="aq-tagline">Answers quoted from the course material, every sentence traced to its passage, its '
        f'speaker and the works it cites.</div><div class="aq-stats">{esc(stats)}</div></div>'
    )


def facet_choices(name: str, facets: dict[str, list[str]]) -> list[tuple[str, str]]:
    """A filter's choices: ("Any course", "") then each value the pages have."""
    return [(f"Any {name}", ""), *((v, v) for v in facets.get(name, []))]


def build_app(atlas: Any, feedback: FeedbackStore | None = None) -> Any:
    """The Blocks over an Atlas (not launched). `feedback`: where ratings go (default: beside the index)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    views = Views(atlas, feedback)
    facets = views.facets()
    examples = views.examples()

    def facet_update(name: str, values: dict[str, list[str]]) -> Any:
        return gr.Dropdown(choices=facet_choices(name, values), value="", visible=bool(values.get(name)))

    with gr.Blocks(title="atlas-qa", analytics_enabled=False, fill_width=True) as app:
        turns = gr.State([])
        rated = gr.State({})
        rated_turn = gr.State(None)

        stats = gr.HTML(
            render_header(views.stats()),
            head=f"<style>{_asset('app.css')}</style>",
            js_on_load=None,
            elem_id="aq-header",
        )

        def ask_api(
            questions: list[str], courses: list[str], topics: list[str], chapters: list[str], request: gr.Request
        ) -> tuple[list[dict[str, Any]]]:
            """The `ask --json` answers, within this app's course (filters narrow its pages). Concurrent requests
            are batched so their questions are encoded together; each is answered or refused on its own
            (`{"question", "error", "status"}`), so a bad request never fails the others."""
            forget_call_sessions(app, request)
            filters = [
                {k: v for k, v in (("course", c), ("topic", t), ("chapter", ch)) if v}
                for c, t, ch in zip(courses, topics, chapters)
            ]
            try:
                results = atlas.ask_batch(questions, filters)
            except Exception as exc:  # noqa: BLE001 (unexpected: every request gets the sentence, not a bare error)
                log.exception("the ask API failed")
                failed = exc if isinstance(exc, AtlasError) else AtlasError("An internal error stopped the answers.")
                results = [failed] * len(questions)
            return (
                [
                    error_json(q, r) if isinstance(r, AtlasError) else answer_json(r, views.corpus)
                    for q, r in zip(questions, results)
                ],
            )

        gr.api(ask_api, api_name="ask", batch=True, max_batch_size=16, concurrency_limit=2)

        with gr.Tabs(elem_id="aq-main-tabs"):
            with gr.Tab("Ask", id="ask", elem_id="aq-tab-ask"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=11, min_width=420):
                        with gr.Row(elem_id="aq-filters", visible=bool(facets), equal_height=True) as filter_row:
                            filters = [
                                gr.Dropdown(
                                    facet_choices(f, facets),
                                    value="",
                                    show_label=False,
                                    container=False,
                                    label=f.capitalize(),
                                    visible=bool(facets.get(f)),
                                    elem_id=f"aq-filter-{f}",
                                    scale=1,
                                    min_width=140,
                                )
                                for f in FACETS
                            ]
                        chat = gr.Chatbot(
                            elem_id="aq-chat",
                            label="Conversation",
                            show_label=False,
                            height=560,
                            latex_delimiters=[],
                            buttons=[],
                            placeholder=(
                                "### Ask about the course\nAnswers are quoted from the course pages. Each sentence "
                                "ends with a marker such as [1]: click it to see the passage, who said it, and the "
                                "works cited. Follow-up questions (“what did he say about…?”) keep the conversation's "
                                "context."
                            ),
                            examples=[{"text": q} for q in examples] or None,
                        )
                        with gr.Row(elem_id="aq-ask-row"):
                            box = gr.Textbox(
                                show_label=False,
                                placeholder="Ask a question about the course…",
                                max_length=MAX_QUESTION_CHARS,
                                lines=1,
                                max_lines=6,
                                scale=8,
                                elem_id="aq-box",
                                autofocus=True,
                            )
                            send = gr.Button("Ask", variant="primary", scale=0, min_width=100, elem_id="aq-send")
                            clear = gr.Button(
                                "Clear conversation", variant="secondary", scale=0, min_width=220, elem_id="aq-clear"
                            )
                        with gr.Group(visible=False, elem_id="aq-feedback") as feedback_box:
                            feedback_note = gr.Markdown(elem_id="aq-feedback-note")
                            with gr.Row():
                                comment = gr.Textbox(
                                    show_label=False,
                                    placeholder="What was useful, wrong or missing? (optional)",
                                    max_length=2000,
                                    scale=6,
                                    elem_id="aq-comment",
                                )
                                comment_send = gr.Button(
                                    "Send comment", scale=0, min_width=170, elem_id="aq-comment-send"
                                )
                    with gr.Column(scale=9, min_width=360, elem_id="aq-side"):
                        with gr.Tabs(elem_id="aq-side-tabs") as side:
                            with gr.Tab("Sources", id="sources", elem_id="aq-tab-sources"):
                                sources = gr.HTML(WELCOME, elem_id="aq-sources", js_on_load=_asset("sources.js"))
                            with gr.Tab("Page", id="page", elem_id="aq-tab-page"):
                                page = gr.HTML(Views.page_empty(), elem_id="aq-page", js_on_load=_asset("page.js"))

            with gr.Tab("Attribution", id="attribution", elem_id="aq-tab-attribution"):
                gr.HTML(
                    '<div class="aq-intro"><b>For instructors.</b> Check what each answer rests on: every cited '
                    "span, its speaker and locator, the works it cites with their full references; and any page as "
                    "the system parsed it, with unresolved citations and unused references flagged.</div>",
                    js_on_load=None,
                )
                with gr.Row():
                    answer_pick = gr.Dropdown([], label="Answer", scale=4, elem_id="aq-answer-pick")
                    attr_csv = gr.Button("Export CSV", size="sm", scale=0, min_width=120, elem_id="aq-attr-csv")
                    attr_json = gr.Button("Export JSON", size="sm", scale=0, min_width=120, elem_id="aq-attr-json")
                attr_file = gr.File(label="Download", visible=False, interactive=False, elem_id="aq-attr-file")
                attr_table = gr.HTML(views.attribution_table([], None), elem_id="aq-attr-table", js_on_load=None)
                gr.HTML('<h3 class="aq-h">Page parse</h3>', js_on_load=None)
                with gr.Row():
                    choices = views.page_choices()
                    page_pick = gr.Dropdown(
                        choices, value=choices[0][1] if choices else None, label="Page", scale=4, elem_id="aq-page-pick"
                    )
                    parse_json = gr.Button("Export JSON", size="sm", scale=0, min_width=120, elem_id="aq-parse-json")
                parse_file = gr.File(label="Download", visible=False, interactive=False, elem_id="aq-parse-file")
                parse_view = gr.HTML(
                    views.parse_view(choices[0][1] if choices else None), elem_id="aq-parse", js_on_load=None
                )

            with gr.Tab("Corpus", id="corpus", elem_id="aq-tab-corpus") as corpus_tab:
                gr.HTML(
                    '<div class="aq-intro"><b>For instructors.</b> The pages in the index, when each was indexed, '
                    "and the files that failed to load with the reason. Re-indexing reads the corpus folder again "
                    "and embeds only what changed.</div>",
                    js_on_load=None,
                )
                corpus_summary = gr.HTML(views.corpus_summary(), elem_id="aq-corpus-summary", js_on_load=None)
                with gr.Row(equal_height=True):
                    reindex = gr.Button(
                        "Re-index the corpus", variant="primary", scale=0, min_width=240, elem_id="aq-reindex"
                    )
                    reindex_status = gr.HTML("", elem_id="aq-reindex-status", js_on_load=None)
                corpus_table = gr.Dataframe(
                    value=views.corpus_rows(),
                    headers=["Title", "Page id", "Passages", "Indexed", "Source"],
                    datatype=["str", "str", "number", "str", "str"],
                    interactive=False,
                    wrap=True,
                    show_search="search",
                    elem_id="aq-corpus-table",
                    elem_classes=["aq-df"],
                    label="Pages",
                    column_widths=["30%", "26%", "10%", "14%", "20%"],
                )

            with gr.Tab("Feedback", id="feedback", elem_id="aq-tab-feedback") as feedback_tab:
                gr.HTML(
                    '<div class="aq-intro"><b>For instructors.</b> Ratings of answers, newest first, with the '
                    "question, the answer and its citations as they were shown.</div>",
                    js_on_load=None,
                )
                feedback_summary = gr.HTML(views.feedback_summary(), elem_id="aq-feedback-summary", js_on_load=None)
                with gr.Row():
                    fb_refresh = gr.Button("Refresh", size="sm", scale=0, min_width=110, elem_id="aq-fb-refresh")
                    fb_csv = gr.Button("Export CSV", size="sm", scale=0, min_width=120, elem_id="aq-fb-csv")
                    fb_json = gr.Button("Export JSON", size="sm", scale=0, min_width=120, elem_id="aq-fb-json")
                fb_file = gr.File(label="Download", visible=False, interactive=False, elem_id="aq-fb-file")
                feedback_table = gr.Dataframe(
                    value=views.feedback_rows(),
                    headers=["When", "Rating", "Question", "Answer", "Citations", "Comment"],
                    interactive=False,
                    wrap=True,
                    show_search="search",
                    elem_id="aq-feedback-table",
                    elem_classes=["aq-df"],
                    label="Feedback",
                    column_widths=["12%", "9%", "19%", "32%", "16%", "12%"],
                )

        # -- chat --------------------------------------------------------------------------------------------------

        def on_ask(question: str, state: list[Turn], *values: str) -> Iterator[tuple[Any, ...]]:
            chosen = dict(zip(FACETS, values))
            for messages, html_, new_state in views.stream(question, state, chosen):
                yield (
                    messages,
                    gr.skip() if html_ is None else html_,
                    new_state,
                    "",
                    gr.Tabs(selected="sources"),
                    gr.skip(),
                )

        def after_ask(state: list[Turn]) -> tuple[Any, ...]:
            picks = views.answer_choices(state)
            t = picks[0][1] if picks else None
            return gr.Dropdown(choices=picks, value=t), views.attribution_table(state, t)

        ask_outputs = [chat, sources, turns, box, side, feedback_box]
        ask_args: dict[str, Any] = {"show_progress": "hidden", "concurrency_id": "ask"}
        for trigger in (send.click, box.submit):
            trigger(on_ask, [box, turns, *filters], ask_outputs, **ask_args).then(
                after_ask, [turns], [answer_pick, attr_table], show_progress="hidden"
            )

        def on_example(evt: gr.SelectData) -> str:
            value = evt.value
            return str(value.get("text", "") if isinstance(value, dict) else value)

        chat.example_select(on_example, None, box, show_progress="hidden").then(
            on_ask, [box, turns, *filters], ask_outputs, **ask_args
        ).then(after_ask, [turns], [answer_pick, attr_table], show_progress="hidden")

        def on_clear() -> tuple[Any, ...]:
            return (
                [],
                WELCOME,
                [],
                "",
                gr.Tabs(selected="sources"),
                Views.page_empty(),
                {},
                None,
                gr.Group(visible=False),
                gr.Dropdown(choices=[], value=None),
                views.attribution_table([], None),
            )

        clear_outputs = [
            chat,
            sources,
            turns,
            box,
            side,
            page,
            rated,
            rated_turn,
            feedback_box,
            answer_pick,
            attr_table,
        ]
        clear.click(on_clear, None, clear_outputs, show_progress="hidden")
        chat.clear(on_clear, None, clear_outputs, show_progress="hidden")

        def on_sources_click(state: list[Turn], evt: gr.EventData) -> tuple[Any, ...]:
            data = getattr(evt, "_data", None) or {}
            if m := re.fullmatch(r"(\d+):(\d+)", str(data.get("open", ""))):
                return gr.skip(), gr.Tabs(selected="page"), views.page(state, int(m.group(1)), int(m.group(2)))
            if m := re.fullmatch(r"src-(\d+)-(\d+)", str(data.get("cite", ""))):
                t, n = int(m.group(1)), int(m.group(2))
                return views.sources(state, t, focus=n), gr.Tabs(selected="sources"), gr.skip()
            return gr.skip(), gr.skip(), gr.skip()

        sources.click(on_sources_click, [turns], [sources, side, page], show_progress="hidden")

        # -- feedback ----------------------------------------------------------------------------------------------

        def on_like(state: list[Turn], ratings: dict[int, int], evt: gr.LikeData) -> tuple[Any, ...]:
            index = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
            note, t = views.rate(state, int(index), evt.liked is True, ratings)
            return gr.Group(visible=True), note, ratings, t, ""

        chat.like(
            on_like, [turns, rated], [feedback_box, feedback_note, rated, rated_turn, comment], show_progress="hidden"
        )

        def on_comment(ratings: dict[int, int], t: int | None, text: str) -> tuple[str, str]:
            return views.comment(ratings, t, text), ""

        comment_send.click(on_comment, [rated, rated_turn, comment], [feedback_note, comment], show_progress="hidden")
        comment.submit(on_comment, [rated, rated_turn, comment], [feedback_note, comment], show_progress="hidden")

        # -- instructors -------------------------------------------------------------------------------------------

        answer_pick.change(views.attribution_table, [turns, answer_pick], attr_table, show_progress="hidden")

        def file_update(path: Path | None) -> Any:
            return gr.File(value=str(path) if path else None, visible=path is not None)

        attr_csv.click(lambda s, t: file_update(views.export_attribution(s, t, "csv")), [turns, answer_pick], attr_file)
        attr_json.click(
            lambda s, t: file_update(views.export_attribution(s, t, "json")), [turns, answer_pick], attr_file
        )
        page_pick.change(
            lambda p: (views.parse_view(p), gr.File(visible=False)),
            page_pick,
            [parse_view, parse_file],
            show_progress="hidden",
        )
        parse_json.click(lambda p: file_update(views.export_parse(p)), page_pick, parse_file)

        def refresh_corpus() -> tuple[Any, ...]:
            values = views.facets()
            choices = views.page_choices()
            return (
                views.corpus_summary(),
                views.corpus_rows(),
                render_header(views.stats()),
                gr.Row(visible=bool(values)),
                *(facet_update(f, values) for f in FACETS),
                gr.Dropdown(choices=choices),
            )

        corpus_outputs = [corpus_summary, corpus_table, stats, filter_row, *filters, page_pick]
        corpus_tab.select(refresh_corpus, None, corpus_outputs, show_progress="hidden")

        def on_reindex(progress: Any = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008 (Gradio's idiom)
            def report(done: int, total: int) -> None:
                progress((done, total), desc="Embedding passages", unit="passages")

            status = views.reindex(report)
            return (status, *refresh_corpus())

        reindex.click(on_reindex, None, [reindex_status, *corpus_outputs], concurrency_limit=1, concurrency_id="ingest")

        def refresh_feedback() -> tuple[Any, ...]:
            return views.feedback_summary(), views.feedback_rows()

        feedback_tab.select(refresh_feedback, None, [feedback_summary, feedback_table], show_progress="hidden")
        fb_refresh.click(refresh_feedback, None, [feedback_summary, feedback_table], show_progress="hidden")
        fb_csv.click(lambda: file_update(views.export_feedback("csv")), None, fb_file)
        fb_json.click(lambda: file_update(views.export_feedback("json")), None, fb_file)

        app.load(lambda: render_header(views.stats()), None, stats, show_progress="hidden")

    app.queue(default_concurrency_limit=CONCURRENCY, max_size=128)
    return app


# -- serving -------------------------------------------------------------------------------------------------------


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


def parse_auth(value: str) -> tuple[str, str] | None:
    """`ATLAS_QA_AUTH="user:password"` -> ("user", "password"); empty -> None (no login)."""
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise ConfigError("ATLAS_QA_AUTH must be user:password (both non-empty).")
    return user, password


def launch_options(settings: Settings, env: dict[str, str] | None = None) -> dict[str, Any]:
    """How `serve` launches the app: local only, no share link unless ATLAS_QA_SHARE=1, a login if ATLAS_QA_AUTH is
    set, and file routes that can serve no corpus, index or other file of the machine."""
    env = dict(os.environ if env is None else env)
    import gradio as gr
    from starlette.middleware import Middleware

    from .guard import AskGuard

    blocked = {str(Path(settings.corpus).resolve()), str(Path(settings.index_dir).resolve())}
    return {
        "server_name": settings.host,
        "server_port": settings.port,
        "share": env.get("ATLAS_QA_SHARE", "").lower() in ("1", "true", "yes"),
        "auth": parse_auth(env.get("ATLAS_QA_AUTH", "")),
        "auth_message": "Sign in to ask about the course material.",
        "allowed_paths": [],
        "blocked_paths": sorted(blocked),
        "max_file_size": "1mb",  # the app takes no uploads; Gradio's upload route stays small
        "show_error": False,
        "ssr_mode": False,
        "mcp_server": False,
        # A malformed call of the ask API is refused (400) before it can be batched with other people's questions.
        "app_kwargs": {"middleware": [Middleware(AskGuard)]},
        # System fonts only: the app makes no request to a third party (nor needs the internet).
        "theme": gr.themes.Soft(
            primary_hue="indigo",
            neutral_hue="slate",
            font=["ui-sans-serif", "system-ui", "Segoe UI", "Helvetica Neue", "sans-serif"],
            font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"],
        ),
    }


def serve(settings: Settings, ingest: bool = True) -> None:
    """Index the corpus if needed, then serve the app on settings.host:settings.port (local only by default)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from .core import Atlas

    options = launch_options(settings)  # a bad ATLAS_QA_AUTH fails before the slow part
    atlas = Atlas(settings)
    if ingest:
        report = atlas.ingest(progress=True)
        print(f"Index ready: {report.chunks} passages ({report.embedded} embedded now).")
        for s in report.skipped:
            print(f"skipped {s.path}: {s.reason}")
    build_app(atlas).launch(**options)


def _asset(name: str) -> str:
    """One of the app's look-and-behaviour files (CSS, the panels' JavaScript), shipped in `atlas_qa/assets/`."""
    return (resources.files(__package__) / "assets" / name).read_text(encoding="utf-8")
