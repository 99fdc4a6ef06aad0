"""Who said what: references, in-text citations, quotations and the attribution chain of a span."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .types import Cite, Document, Quotation, Reference

_YEAR = r"(?:1[5-9]\d\d|20\d\d)[a-z]?"
_NAME = r"[A-Z][A-Za-z'’\-]+"
_NAMES = rf"{_NAME}(?:\s+(?:et al\.?|(?:&|and)\s+{_NAME}))?"
# (Borins, 2007, p. 16) (Dunleavy et al., 2005) (Tapscott & Williams, 2006) (see Fountain 2001)
PAREN_CITE = re.compile(
    rf"\((?:see |e\.g\., )?(?P<names>{_NAMES}),?\s+(?P<year>{_YEAR})(?:,\s*(?P<loc>pp?\.\s*[\d\-–, ]*\d))?\)"
)
# Borins (2007) / Borins (2007, p. 16)
NARRATIVE_CITE = re.compile(rf"(?P<names>{_NAMES})\s+\((?P<year>{_YEAR})(?:,\s*(?P<loc>pp?\.\s*[\d\-–, ]*\d))?\)")
FOOTNOTE_REF = re.compile(r"\[\^([^\]\s]+)\]")
# According to Borins, “...”   /   As Borins puts it, "..."
ACCORDING_TO = re.compile(rf"(?:According to|As)\s+(?P<name>{_NAME})(?:\s+puts it)?,\s*[“\"]")
# Where an entry's authors end when its year comes last (Chicago style): the first full stop after a word, not an
# initial ("Gilley, Bruce. The Right to Rule: How States Win ... 2009."), or an opening quote ("Rudy, Lisa Jo. “What").
_AUTHORS_END = re.compile(r"(?<=[a-z]{2})\.\s|[“\"]")
_STOP_NAMES = {"See", "In", "The", "And", "Ed", "Eds", "Et", "Al", "Fifth", "Edition"}


def parse_reference(text: str, key: str) -> Reference:
    """Split a reference-list entry into surnames and year ("Borins, S. (2007). ..." -> ("Borins",), "2007"; "Gilley,
    Bruce. The Right to Rule. ... 2009." -> ("Gilley", "Bruce"), "2009")."""
    m = re.search(rf"\(({_YEAR})\)|\b({_YEAR})\b", text)
    year = (m.group(1) or m.group(2)) if m else ""
    head = _AUTHORS_END.split(text[: m.start()] if m else text[:80], maxsplit=1)[0]
    names = tuple(
        w for w in re.findall(rf"{_NAME}(?!\.)", head) if w not in _STOP_NAMES and not re.fullmatch(r"[A-Z]\.?", w)
    )
    if "," not in head and len(names) > 1:
        names = names[-1:]  # "Leslie Pal (2014)": given name first, the surname is the last name
    return Reference(key=key, text=text.strip(), authors=names, year=year[:4])


def format_pages(raw: str) -> str:
    """'p. 213-214' -> '213-214'."""
    return re.sub(r"^pp?\.\s*", "", raw.strip()).replace("–", "-")


def page_locator(pages: str) -> str:
    """'213-214' -> 'pp. 213-214'; '16' -> 'p. 16'."""
    if not pages:
        return ""
    return f"pp. {pages}" if re.search(r"[-,]", pages) else f"p. {pages}"


@dataclass(frozen=True)
class InText:
    """An in-text citation found in a span, with offsets relative to the page."""

    label: str
    surname: str
    year: str
    loc: str
    start: int
    end: int


def find_citations(text: str, offset: int = 0) -> list[InText]:
    """Parenthetical and narrative author-year citations in `text`, in order."""
    found: dict[int, InText] = {}
    for pattern in (PAREN_CITE, NARRATIVE_CITE):
        for m in pattern.finditer(text):
            names = m.group("names")
            surname = re.match(_NAME, names).group(0)  # type: ignore[union-attr]
            loc = m.group("loc") or ""
            label = f"{names}, {m.group('year')}" + (f", {loc}" if loc else "")
            found.setdefault(
                m.start(), InText(label, surname, m.group("year")[:4], loc, offset + m.start(), offset + m.end())
            )
    return [found[k] for k in sorted(found)]


def resolve_reference(doc: Document, surname: str, year: str = "") -> Reference | None:
    """The page's reference for an author (and year, when known); footnotes are never matched by name."""
    candidates = [r for r in doc.references if not r.key.startswith("^") and surname in r.authors]
    if year:
        candidates = [r for r in candidates if r.year == year] or []
    return candidates[0] if candidates else None


def cites_in_span(doc: Document, start: int, end: int) -> list[Cite]:
    """The works cited inside a span: author-year citations and footnote markers, resolved against the page."""
    span = doc.text[start:end]
    cites: list[Cite] = []
    seen: set[str] = set()
    ref_lists = doc.reference_spans
    for c in find_citations(span, start):
        if any(a <= c.start < b for a, b in ref_lists):
            continue  # an entry of the reference list is not a citation
        ref = resolve_reference(doc, c.surname, c.year)
        if c.label not in seen:
            seen.add(c.label)
            cites.append(Cite(label=c.label, reference=ref.text if ref else ""))
    footnotes = {r.key: r for r in doc.references if r.key.startswith("^")}
    for m in FOOTNOTE_REF.finditer(span):
        ref = footnotes.get("^" + m.group(1))
        if ref and ref.key not in seen:
            seen.add(ref.key)
            cites.append(Cite(label=f"[^{m.group(1)}]", reference=ref.text))
    return cites


def speaker_cites(doc: Document, start: int, end: int) -> list[Cite]:
    """The works of the speakers quoted in a span, innermost quotation first (Borins before Pal)."""
    cites = []
    for q in sorted(
        (q for q in doc.quotations if min(end, q.end) - max(start, q.start) > 0), key=lambda q: q.end - q.start
    ):
        ref = resolve_reference(doc, q.speaker.split()[-1])
        if ref is not None:
            label = ", ".join(x for x in (q.speaker, ref.year, page_locator(q.pages)) if x)
            cites.append(Cite(label=label, reference=ref.text))
    return cites


def chain_for_span(doc: Document, start: int, end: int) -> tuple[str, str, str, str]:
    """(speaker, pages, speaker_reference, chain) for a span.

    The chain reads inside out: "Borins (2007, p. 16), quoted in Pal (2014, pp. 213-214)".
    """
    outer = [q for q in doc.quotations if min(end, q.end) - max(start, q.start) > 0]
    outer.sort(key=lambda q: q.end - q.start)
    if not outer:
        return "", "", "", ""
    links = []
    for q in outer:
        ref = resolve_reference(doc, q.speaker.split()[-1])
        year = ref.year if ref else ""
        inside = ", ".join(x for x in (year, page_locator(q.pages)) if x)
        links.append(f"{q.speaker} ({inside})" if inside else q.speaker)
    speaker_q = outer[-1]  # the page quotes the outermost speaker's words
    ref = resolve_reference(doc, speaker_q.speaker.split()[-1])
    return speaker_q.speaker, speaker_q.pages, ref.text if ref else "", ", quoted in ".join(links)


def nested_quotations(text: str, outer: Quotation) -> list[Quotation]:
    """Quotations inside a quotation: 'According to Borins, “...” (Borins, 2007, p. 16)'."""
    found = []
    body = text[outer.start : outer.end]
    for m in ACCORDING_TO.finditer(body):
        q_start = outer.start + m.end() - 1
        rest = text[q_start : outer.end]
        closing = re.search(
            r"[”\"]\s*\((?P<names>[^()]*?),\s*(?P<year>\d{4})(?:,\s*(?P<loc>pp?\.\s*[\d\-–]+))?\)", rest[1:]
        )
        if not closing:
            continue
        q_end = q_start + 1 + closing.end()
        found.append(
            Quotation(speaker=m.group("name"), pages=format_pages(closing.group("loc") or ""), start=q_start, end=q_end)
        )
    return found
