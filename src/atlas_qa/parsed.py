"""A page as the system parsed it: its quotations, in-text citations and references, with what did not resolve
flagged (the instructors' Attribution view, `GET /api/v1/attribution/{page_id}`, the parse export)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from .attribution import FOOTNOTE_REF, find_citations, page_locator, resolve_reference
from .types import Document


@dataclass(frozen=True)
class ParsedQuotation:
    """A quotation found in the page: who speaks, where in their work, and the reference that names them."""

    speaker: str
    locator: str
    start: int
    end: int
    depth: int  # 0 for a quotation, 1 inside another one, ...
    reference: str | None
    excerpt: str


@dataclass(frozen=True)
class ParsedCitation:
    """An in-text citation or footnote marker and what it resolved to (`problem` says why it did not)."""

    label: str
    start: int
    end: int
    reference: str | None
    problem: str = ""


@dataclass(frozen=True)
class ParsedReference:
    """An entry of the page's references, with what looks wrong with it."""

    key: str
    authors: tuple[str, ...]
    year: str
    text: str
    problems: tuple[str, ...]


@dataclass(frozen=True)
class PageParse:
    """A page as the system parsed it: its quotations, citations and references, what did not resolve flagged."""

    page_id: str
    title: str
    format: str
    sections: tuple[tuple[str, int, int], ...]  # (path, start, end)
    quotations: tuple[ParsedQuotation, ...]
    citations: tuple[ParsedCitation, ...]
    references: tuple[ParsedReference, ...]
    metadata: dict[str, str]

    @property
    def unresolved(self) -> int:
        return sum(1 for c in self.citations if c.problem)

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def page_parse(doc: Document) -> PageParse:
    """The parse of `doc`: quotations (nesting depth, speaker's reference), in-text citations and footnote markers
    outside the references section (resolved or not), and references (never cited, authors or year not parsed)."""
    refs_section = doc.reference_spans
    quotations = []
    for q in sorted(doc.quotations, key=lambda q: (q.start, -q.end)):
        depth = sum(1 for o in doc.quotations if o is not q and o.start <= q.start and q.end <= o.end)
        ref = resolve_reference(doc, q.speaker.split()[-1]) if q.speaker else None
        excerpt = " ".join(doc.text[q.start : q.end].split())
        quotations.append(
            ParsedQuotation(q.speaker, page_locator(q.pages), q.start, q.end, depth, ref.text if ref else None, excerpt)
        )
    citations, cited_keys = [], set()
    for c in find_citations(doc.text):
        if any(a <= c.start < b for a, b in refs_section):
            continue
        ref = resolve_reference(doc, c.surname, c.year)
        cited_keys.add(ref.key if ref else "")
        citations.append(
            ParsedCitation(c.label, c.start, c.end, ref.text if ref else None, "" if ref else "unresolved")
        )
    notes = {r.key: r for r in doc.references if r.key.startswith("^")}
    for m in FOOTNOTE_REF.finditer(doc.text):
        note = notes.get("^" + m.group(1))
        if any(a <= m.start() < b for a, b in refs_section):
            continue
        cited_keys.add(note.key if note else "")
        citations.append(
            ParsedCitation(m.group(0), m.start(), m.end(), note.text if note else None, "" if note else "no such note")
        )
    speakers = {q.speaker.split()[-1] for q in doc.quotations if q.speaker}
    references = []
    for r in doc.own_references:
        used = r.key in cited_keys or any(s in r.authors for s in speakers)
        problems = [] if r.key.startswith("^") or (r.authors and r.year) else ["authors or year not parsed"]
        if not used:
            problems.append("never cited")
        references.append(ParsedReference(r.key, tuple(r.authors), r.year, r.text, tuple(problems)))
    return PageParse(
        doc.page_id,
        doc.title,
        doc.format,
        tuple((s.path, s.start, s.end) for s in doc.sections),
        tuple(quotations),
        tuple(citations),
        tuple(references),
        {k: str(v) for k, v in sorted(doc.metadata.items())},
    )


def write_parse(path: Path, doc: Document) -> Path:
    """The page as parsed (the whole Document) as a JSON file at `path`."""
    path.write_text(json.dumps(asdict(doc), ensure_ascii=False, indent=2), encoding="utf-8")
    return path
