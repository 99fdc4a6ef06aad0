"""The Attribution view (instructors): an answer's attribution table and a page's parse, rendered from `explain`."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..errors import AtlasError
from ..explain import ATTRIBUTION_COLUMNS, attribution_rows, write_attribution
from ..parsed import page_parse, write_parse
from ..types import AttributionRow, Document
from .chat import ChatTurn
from .render import Layer, esc, flag, render_layers, shorten, table

__all__ = ["ATTRIBUTION_COLUMNS", "AttributionViews"]


class AttributionViews:
    """Mixed into `Views`, which provides `atlas`, `document`, `where` and `export_dir`."""

    atlas: Any
    document: Callable[[str], Document | None]
    where: Callable[[Document], str]
    export_dir: Callable[[], Path]

    @staticmethod
    def answer_choices(turns: Sequence[ChatTurn]) -> list[tuple[str, int]]:
        """(label, turn index) of every answered turn, newest first."""
        return [(f"{t + 1}. {turn.question[:90]}", t) for t, turn in reversed(list(enumerate(turns))) if turn.answer]

    def attribution_rows(self, turn: ChatTurn) -> list[AttributionRow]:
        """The turn's attribution rows: those computed when it was asked (`asking.Asker`), or for a turn that has
        none (a rating of an answer kept elsewhere) the library's (`explain.attribution_rows`)."""
        return list(turn.rows) or attribution_rows(turn.answer, self.document)

    def attribution_table(self, turns: Sequence[ChatTurn], t: int | None) -> str:
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
        rows = self.attribution_rows(turns[t])
        body = []
        for i, r in enumerate(rows):
            first = i == 0 or rows[i - 1].span != r.span or rows[i - 1].n != r.n
            ref = (
                esc(r.reference)
                if r.reference
                else ('<em class="aq-missing">no reference found</em>' if r.work else "")
            )
            body.append(
                f'<tr class="{"aq-first" if first else "aq-cont"}">'
                f'<td><span class="aq-n">{r.n}</span></td>'
                f'<td class="aq-span-cell">{esc(r.span) if first else ""}</td>'
                f'<td><b>{esc(r.speaker) or "—"}</b><div class="aq-sub">{esc(r.chain)}</div></td>'
                f"<td>{esc(r.locator) or '—'}</td>"
                f'<td class="aq-work-cell">{esc(r.work) or "—"}</td>'
                f"<td>{ref}</td>"
                f'<td>{esc(r.title)} ({esc(r.page_id)})<div class="aq-sub">{esc(r.section)}</div></td></tr>'
            )
        return (
            f'<div class="aq-attr-q">Answer to “{esc(turns[t].question)}”'
            + (
                f' <span class="aq-sub">searched as “{esc(answer.question)}”</span>'
                if answer.question != turns[t].question
                else ""
            )
            + "</div>"
            '<div class="aq-table-wrap" tabindex="0" role="region" aria-label="Attribution">'
            '<table class="aq-table aq-attr"><thead><tr><th>n</th><th>Cited span</th>'
            "<th>Speaker → chain</th><th>Locator</th><th>Cited work</th><th>Full reference</th><th>Page › section</th>"
            f"</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
        )

    def export_attribution(self, turns: Sequence[ChatTurn], t: int | None, fmt: str) -> Path | None:
        """The answer's attribution as a CSV (the table's rows) or JSON (question, answer, rows, citations) file."""
        if t is None or not 0 <= t < len(turns) or turns[t].answer is None:
            return None
        answer = turns[t].answer
        assert answer is not None
        path = self.export_dir() / f"attribution-{t + 1}.{fmt}"
        return write_attribution(path, turns[t].question, answer, self.attribution_rows(turns[t]), fmt)

    # -- the parse of a page ---------------------------------------------------------------------------------------

    def page_choices(self) -> list[tuple[str, str]]:
        try:
            return [(f"{p['title']} — {p['page_id']}", p["page_id"]) for p in self.atlas.pages()]
        except (AtlasError, AttributeError):
            return []

    def parse_view(self, page_id: str | None) -> str:
        """A page as the system parsed it: quotations, in-text citations and references over the text, with what
        did not resolve flagged, so a wrong parse shows at a glance."""
        doc = self.document(page_id) if page_id else None
        if doc is None:
            return '<div class="aq-empty"><p>Choose a page to see how it was parsed.</p></div>'
        parse = page_parse(doc)
        layers = [Layer(start, min(start + 1, end), "sec", tag=f"§ {path}") for path, start, end in parse.sections]
        q_rows = []
        for q in parse.quotations:
            label = f"{q.speaker}, {q.locator}" if q.locator else q.speaker
            layers.append(Layer(q.start, q.end, f"q q{min(q.depth, 2)}", tag=f"❝ {label}", title=f"Quotation: {label}"))
            note = "" if q.reference else ' <span class="aq-flag">no reference</span>'
            q_rows.append(
                f"<tr><td><b>{esc(q.speaker) or '—'}</b>{note}</td><td>{esc(q.locator) or '—'}</td>"
                f"<td>{q.start}–{q.end}</td><td>{esc(q.reference) if q.reference else '—'}</td>"
                f'<td class="aq-excerpt">{esc(shorten(q.excerpt, 160))}</td></tr>'
            )
        c_rows = []
        for c in parse.citations:
            missing = "No reference on the page matches this citation"
            if c.problem == "no such note":
                missing = "No footnote with this number"
            layers.append(Layer(c.start, c.end, "cite bad" if c.problem else "cite", title=c.reference or missing))
            c_rows.append(
                f"<tr><td>{esc(c.label)}</td><td>{esc(c.reference) if c.reference else flag(c.problem)}</td></tr>"
            )
        r_rows = [
            f"<tr><td><code>{esc(r.key)}</code></td><td>{esc(', '.join(r.authors)) or '—'}</td>"
            f"<td>{esc(r.year) or '—'}</td><td>{esc(r.text)} {''.join(flag(p) for p in r.problems)}</td></tr>"
            for r in parse.references
        ]
        meta = [f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>" for k, v in parse.metadata.items()]
        bad = parse.unresolved
        summary = [
            f"<b>{len(parse.sections)}</b> sections",
            f"<b>{len(parse.quotations)}</b> quotations",
            f"<b>{len(c_rows)}</b> in-text citations"
            + (f' <span class="aq-flag">{bad} unresolved</span>' if bad else ""),
            f"<b>{len(parse.references)}</b> references",
            f"format <b>{esc(parse.format)}</b>",
        ]
        return (
            f'<div class="aq-parse"><div class="aq-page-head"><div class="aq-title">{esc(doc.title)}</div>'
            f'<div class="aq-pid">{esc(self.where(doc))}</div>'
            f'<div class="aq-chips">{"".join(f"<span class=aq-chip>{s}</span>" for s in summary)}</div></div>'
            + table("Quotations", ["Speaker", "Locator", "Offsets", "Speaker’s reference", "Text"], q_rows)
            + table("In-text citations", ["As written", "Resolved to"], c_rows)
            + table("References", ["Key", "Authors", "Year", "Full text"], r_rows)
            + table("Metadata", ["Field", "Value"], meta)
            + '<h4>Page text as parsed</h4><div class="aq-legend"><span class="q q0">quotation</span>'
            '<span class="q q1">nested quotation</span><span class="cite">citation, resolved</span>'
            '<span class="cite bad">citation, unresolved</span></div>'
            '<div class="aq-page-text" tabindex="0" role="region" aria-label="Page text as parsed">'
            f"{render_layers(doc.text, layers)}</div></div>"
        )

    def export_parse(self, page_id: str | None) -> Path | None:
        doc = self.document(page_id) if page_id else None
        if doc is None:
            return None
        return write_parse(self.export_dir() / f"parse-{re.sub(r'[^A-Za-z0-9._-]+', '_', doc.page_id)}.json", doc)
