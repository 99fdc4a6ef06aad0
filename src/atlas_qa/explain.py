"""What an answer rests on: where its sentences and passages stand in their pages, and its attribution rows (the
data behind the Sources and Attribution views, the question log's works and the exports). How a page was parsed is
`parsed.py`; the example questions are `examples.py`.

The UI and the HTTP API render what these functions return; none of them recomputes attribution itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

from .attribution import chain_for_span as attribution_chain
from .attribution import cites_in_span, page_locator, speaker_cites
from .evaluate.report import write_csv
from .spans import clean, folded
from .types import ATTRIBUTION_COLUMNS, Answer, AnswerSentence, AttributionRow, Citation, Cite, Document

__all__ = ["ATTRIBUTION_COLUMNS", "attribution_rows", "chunk_offset", "locate"]


def locate(text: str, sentence: str) -> tuple[int, int] | None:
    """Where an answer sentence (cleaned, white space folded) sits in `text`, as offsets into `text`."""
    target = clean(sentence)
    if not target:
        return None
    shown, where = folded(text)
    i = shown.find(target)
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


def sentence_span(doc: Document, s: AnswerSentence) -> tuple[int, int] | None:
    """Where an answer sentence stands in its page: its own span (extracted sentences carry it), else found by its
    text (a generated sentence quoting the page)."""
    if s.page_id == doc.page_id and 0 <= s.start < s.end <= len(doc.text):
        return s.start, s.end
    return locate(doc.text, s.text)


def cited_numbers(answer: Answer) -> list[int]:
    """The citation numbers the answer's sentences carry, in order of first use."""
    return list(dict.fromkeys(s.n for s in answer.sentences))


def merge_spans(spans: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Non-empty spans sorted, overlapping ones merged."""
    merged: list[tuple[int, int]] = []
    for a, b in sorted(s for s in spans if s[1] > s[0]):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged


def quoted_spans(doc: Document | None, answer: Answer, c: Citation) -> tuple[int | None, list[tuple[int, int]]]:
    """The passage's offset in its page (None when unknown) and the spans of the passage the answer quotes under [n]."""
    local: list[tuple[int, int]] = []
    offset: int | None = None
    if doc is not None:
        if 0 <= c.offset and doc.text[c.offset : c.offset + len(c.text)] == c.text:
            offset = c.offset  # carried by the citation (the passage's chunk start)
        else:  # a citation from elsewhere (an API client's), or a page changed since: found by its text
            offset = chunk_offset(doc.text, c.text, c.start, c.end)
        span = doc.text[c.start : c.end]
        if offset is not None and offset <= c.start and c.end <= offset + len(c.text):
            local.append((c.start - offset, c.end - offset))
        elif span and span in c.text:
            local.append((c.text.index(span), c.text.index(span) + len(span)))
    for s in answer.sentences:
        if s.n != c.n:
            continue
        if offset is not None and doc is not None and (span_ := sentence_span(doc, s)):
            if offset <= span_[0] and span_[1] <= offset + len(c.text):
                local.append((span_[0] - offset, span_[1] - offset))
        elif where := locate(c.text, s.text):
            local.append(where)
    if c.n not in cited_numbers(answer) or merge_spans(local) == [(0, len(c.text))]:
        local = []  # a passage retrieved but not quoted: nothing to point at
    return offset, merge_spans(local)


def dedupe(cites: Sequence[Cite]) -> list[Cite]:
    """Works in order, each reference (or label) once."""
    seen: set[str] = set()
    out = []
    for c in cites:
        key = c.reference or c.label
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out


def readable(document: Callable[[str], Document | None] | None) -> Callable[[str], Document | None]:
    """`document(page_id)`, or None for a page that cannot be read (gone since the answer, a store error)."""

    def page(page_id: str) -> Document | None:
        try:
            return document(page_id) if document else None
        except Exception:  # noqa: BLE001 (a page gone since: its citation's own span and works are used)
            return None

    return page


def attribution_rows(answer: Answer | None, document: Callable[[str], Document | None] | None) -> list[AttributionRow]:
    """Every cited span of an answer -> speaker -> page locator -> cited work -> full reference; one row per work.

    A span is an answer sentence found in its page (`document(page_id)`), attributed with the page's parse
    (quotations, citations); when the page cannot be read, the citation's own span and works are used.
    """
    if answer is None or answer.refused:
        return []
    page = readable(document)
    by_n = {c.n: c for c in answer.citations}
    rows = []
    for s in answer.sentences:
        c = by_n.get(s.n)
        if c is None:
            continue
        doc = page(c.page_id)
        where = sentence_span(doc, s) if doc is not None else None
        if doc is not None and where:
            a, b = where
            speaker, pages, _, chain = attribution_chain(doc, a, b)
            works = dedupe(cites_in_span(doc, a, b) + speaker_cites(doc, a, b)) or list(c.cites)
            span = doc.text[a:b]
        else:
            speaker, pages, chain, works, span = c.speaker, c.pages, c.chain, list(c.cites), clean(s.text)
        text, locator = " ".join(span.split()), page_locator(pages)
        for w in works or [Cite("", "")]:
            rows.append(
                AttributionRow(s.n, text, speaker, locator, chain, w.label, w.reference, c.page_id, c.title, c.section)
            )
    return rows


def write_attribution(path: Path, question: str, answer: Answer, rows: Sequence[AttributionRow], fmt: str) -> Path:
    """The answer's attribution as a CSV (the rows) or JSON (question, answer, rows, citations) file at `path`."""
    table = [r.columns() for r in rows]
    if fmt == "csv":
        write_csv(path, ATTRIBUTION_COLUMNS, [[r[k] for k in ATTRIBUTION_COLUMNS] for r in table])
    else:
        data = {
            "question": question,
            "asked": answer.question,
            "answer": answer.answer,
            "refused": answer.refused,
            "rows": table,
            "citations": [asdict(c) for c in answer.citations],
        }
        path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    return path
