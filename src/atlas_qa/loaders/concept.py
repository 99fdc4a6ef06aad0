"""Concept pages (.txt) of the atlas: description, quotations, see also, topic tags, references, author and date.

A text file without these parts still loads as one plain section.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from ..attribution import format_pages, nested_quotations, parse_reference
from ..spans import paragraph_spans
from ..types import REFERENCES, Document, Quotation, Reference, Section

DESCRIPTION = "Concept description"
TOPICS = "Atlas topic, subject, and course"
# "Pal writes (p. 213-214):", "Leslie Pal writes (pp. 12–13):", "Borins notes (p. 16):"
QUOTE_INTRO = re.compile(
    r"^(?P<speaker>[A-Z][\w'’\-]+(?:\s+[A-Z][\w'’\-]+){0,3})\s+"
    r"(?:writes|notes|states|says|argues|explains|observes|adds|continues|concludes|summarizes|suggests)"
    r"\s*\((?P<pages>pp?\.?\s*[\d\-–, ]+)\)\s*:\s*$"
)
CREATED = re.compile(r"^Page created by:?\s*(?P<author>.+?),\s*last modified\s*(?P<date>.+?)\.?\s*$", re.I)
SEE_ALSO = re.compile(r"^See also:\s*(?P<what>.+?)\.?\s*$")
COURSE_LINE = re.compile(r"^(?:…|\.\.\.)?\s*a (?:core |supplementary )?concept in\s+(?P<where>.+)$", re.I)
QUOTE_CHARS = "“\"‘'"


def _norm(s: str) -> str:
    return re.sub(r"\s+", " ", s.replace("\xa0", " ")).strip()


def _split_where(where: str) -> tuple[str, str]:
    """'Implementation and Delivery and Atlas107' -> ('Implementation and Delivery', 'Atlas107')."""
    subject, _, course = _norm(where).rpartition(" and ")
    return (subject, course) if subject else ("", course)


def _title_from(page_id: str, description: str) -> str:
    stem = PurePosixPath(page_id).stem
    if re.search(r"[a-z]{3,}", stem) and not re.fullmatch(r"[\d_]*[0-9a-f]{12,}", stem):
        words = re.sub(r"[-_]+", " ", stem).strip()
        return words[:1].upper() + words[1:]
    # A hash-like file name: the description's first clause names the concept.
    first = re.split(r"(?<=[.!?])\s", _norm(description), maxsplit=1)[0]
    m = re.search(r"\b(?:summarizes|describes|explains|discusses|defines)\s+(?:the\s+)?(.+?)\.?$", first)
    phrase = m.group(1) if m else first.rstrip(".")
    return phrase[:1].upper() + phrase[1:]


def parse(text: str, page_id: str, source: str) -> Document:
    """Parse a concept page; offsets in the result refer to `text` itself."""
    paras = paragraph_spans(text)
    lines = [_norm(text[s:e]) for s, e in paras]
    meta: dict[str, str] = {}
    try:
        desc_i = lines.index(DESCRIPTION)
    except ValueError:
        desc_i = -1
    topic_i = lines.index(TOPICS) if TOPICS in lines else -1
    if desc_i < 0 and topic_i < 0:
        return _plain(text, page_id, source)

    if paras and (m := COURSE_LINE.match(lines[0])):
        meta["subject"], meta["course"] = _split_where(m.group("where"))

    body_end_i = topic_i if topic_i >= 0 else len(paras)
    quotations: list[Quotation] = []
    description = ""
    i = desc_i + 1
    while i < body_end_i:
        line = lines[i]
        if (q := QUOTE_INTRO.match(line)) is not None:
            j = i + 1
            while j < body_end_i and lines[j][:1] in QUOTE_CHARS:
                j += 1
            if j > i + 1:
                outer = Quotation(q.group("speaker"), format_pages(q.group("pages")), paras[i + 1][0], paras[j - 1][1])
                quotations.append(outer)
                quotations.extend(nested_quotations(text, outer))
            i = max(j, i + 1)
            continue
        if (s := SEE_ALSO.match(line)) is not None:
            meta["see_also"] = s.group("what")
        elif not description and not quotations:
            description = line
        i += 1

    references: list[Reference] = []
    sections = []
    if desc_i >= 0:
        sections.append(
            Section(DESCRIPTION, paras[desc_i][0], paras[body_end_i - 1][1] if body_end_i > 0 else len(text))
        )
    if topic_i >= 0:
        tag_i = topic_i + 1
        if tag_i < len(paras):
            tag_line = lines[tag_i]
            topic, _, where = tag_line.partition(" in ")
            meta["topic"] = topic
            if where:
                meta["subject"], meta["course"] = _split_where(where)
            sections.append(Section(TOPICS, paras[topic_i][0], paras[tag_i][1]))
        ref_start = None
        for k in range(tag_i + 1, len(paras)):
            line = lines[k]
            if (c := CREATED.match(line)) is not None:
                meta["author"], meta["date"] = c.group("author"), c.group("date")
                continue
            if line.startswith("Image:"):
                meta["image"] = line.removeprefix("Image:").strip()
                continue
            if line.startswith("See ") and references:
                continue  # "See Beyond Policy Analysis – Book Highlights." belongs to the entry above
            ref = parse_reference(line, key=f"ref{len(references) + 1}")
            if ref.year:
                references.append(ref)
                ref_start = paras[k][0] if ref_start is None else ref_start
                ref_end = paras[k][1]
        if ref_start is not None:
            sections.append(Section(REFERENCES, ref_start, ref_end))

    meta["description"] = description
    title = _title_from(page_id, description)
    return Document(
        page_id=page_id,
        title=title,
        text=text,
        source=source,
        format="concept",
        sections=tuple(sections),
        quotations=tuple(quotations),
        references=tuple(references),
        metadata={k: v for k, v in meta.items() if v},
    )


def _plain(text: str, page_id: str, source: str) -> Document:
    paras = paragraph_spans(text)
    first = _norm(text[paras[0][0] : paras[0][1]]) if paras else ""
    title = first if 0 < len(first) <= 120 and not first.endswith(".") else _title_from(page_id, first)
    return Document(page_id=page_id, title=title, text=text, source=source, format="text")
