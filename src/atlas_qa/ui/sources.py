"""The sources panel and the page view: each cited passage with its quoted span, speaker and works; whole pages."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..attribution import page_locator
from ..errors import AtlasError
from ..explain import cited_numbers, quoted_spans
from ..store.records import FACETS
from ..types import Answer, Citation, Document, course_source
from .chat import ChatTurn
from .markdown import render_document, render_inline, render_passage
from .render import Layer, esc, highlight

WELCOME = (
    '<div class="aq-empty"><div class="aq-empty-title">Sources appear here</div>'
    "<p>Every sentence of an answer is quoted from a course page and ends with a marker such as "
    '<span class="aq-cite">[1]</span>. Click a marker to see its passage with the quoted words highlighted, who is '
    "speaking and where, and the full reference of every work cited.</p></div>"
)


class SourceViews:
    """Lookups, the sources panel and the page view; mixed into `Views`, which provides `atlas` and `corpus`."""

    atlas: Any
    corpus: Path

    def document(self, page_id: str) -> Document | None:
        try:
            return self.atlas.document(page_id)  # type: ignore[no-any-return]
        except (AtlasError, AttributeError, KeyError):
            return None

    def title(self, page_id: str) -> str:
        doc = self.document(page_id)
        return f"{doc.title} ({page_id})" if doc and doc.title and doc.title != page_id else page_id

    def highlights(self, answer: Answer, c: Citation) -> tuple[Document | None, int | None, list[tuple[int, int]]]:
        """The page, the passage's offset in it, and the spans of the passage that the answer quotes under [n]."""
        doc = self.document(c.page_id)
        offset, spans = quoted_spans(doc, answer, c)
        return doc, offset, spans

    @staticmethod
    def sources_loading() -> str:
        return '<div class="aq-empty aq-loading"><div class="aq-empty-title">Finding the passages…</div></div>'

    def sources(self, turns: Sequence[ChatTurn], t: int | None = None, focus: int | None = None) -> str:
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

    def page(self, turns: Sequence[ChatTurn], t: int, n: int) -> str:
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
            f'<div class="aq-pageview" tabindex="0" role="region" aria-label="Page: {esc(doc.title)}">'
            f'<div class="aq-page-head"><div class="aq-title">{esc(doc.title)}</div>'
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
