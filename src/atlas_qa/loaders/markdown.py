"""Markdown pages with YAML front matter, `#` headings and `[^n]` footnotes (the OpenStax course pages' shape)."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from ..attribution import parse_reference
from ..errors import LoadError
from ..spans import paragraph_spans
from ..types import Document, Reference, Section, is_reference_list
from .sections import HeadingTrail

FRONT_MATTER = re.compile(r"\A---[ \t]*\n(?P<yaml>.*?)\n---[ \t]*(?:\n|\Z)", re.S)
HEADING = re.compile(r"^(?P<hashes>#{1,6})[ \t]+(?P<title>.+?)[ \t#]*$", re.M)
BOLD = re.compile(r"\*\*(?P<term>[^*\n]{2,80}?)\*\*")
FOOTNOTE_DEF = re.compile(r"^\[\^(?P<key>[^\]\s]+)\]:[ \t]*(?P<text>.*(?:\n(?:[ \t]{2,}|\t).*)*)", re.M)


def _front_matter(text: str) -> tuple[dict[str, str], str]:
    m = FRONT_MATTER.match(text)
    if not m:
        return {}, text
    import yaml  # small, but only needed here

    try:
        data = yaml.safe_load(m.group("yaml")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 2})" if mark is not None else ""
        raise LoadError(f"malformed YAML front matter{where}") from None
    if not isinstance(data, dict):
        raise LoadError("front matter is not a mapping of keys to values")
    return {str(k): str(v) for k, v in data.items() if v is not None}, text[m.end() :]


def parse(text: str, page_id: str, source: str) -> Document:
    """Parse a Markdown page. `text` of the result is the body without front matter and footnote definitions."""
    meta, body = _front_matter(text)
    references = []
    kept = []
    pos = 0
    for m in FOOTNOTE_DEF.finditer(body):
        kept.append(body[pos : m.start()])
        pos = m.end()
        note = re.sub(r"\s+", " ", m.group("text")).strip()
        references.append(Reference(key="^" + m.group("key"), text=note))
    kept.append(body[pos:])
    body = re.sub(r"\n{3,}", "\n\n", "".join(kept)).strip("\n") + "\n"

    headings = list(HEADING.finditer(body))
    title = meta.get("title", "")
    if not title:
        h1 = next((h for h in headings if len(h.group("hashes")) == 1), None)
        title = h1.group("title").strip() if h1 else PurePosixPath(page_id).stem.replace("-", " ").replace("_", " ")
    sections = []
    trail = HeadingTrail()
    for i, h in enumerate(headings):
        level = len(h.group("hashes"))
        end = headings[i + 1].start() if i + 1 < len(headings) else len(body)
        if level == 1:  # the page's title: the sections below it start a new trail
            trail.clear()
            continue
        sections.append(Section(trail.push(level, h.group("title").strip()), h.start(), end))

    references.extend(_reference_list(body, sections, start=len(references)))
    own_id = meta.pop("page_id", "")
    source_url = meta.pop("source", "")
    meta.pop("title", None)
    if source_url:
        meta["source_url"] = source_url
    return Document(
        page_id=own_id or page_id,
        title=title,
        text=body,
        source=source,
        format="markdown",
        sections=tuple(sections),
        references=tuple(references),
        key_terms=_key_terms(body),
        metadata=meta,
    )


def _reference_list(body: str, sections: list[Section], start: int = 0) -> list[Reference]:
    """The entries of the page's reference lists ("## References", "## Bibliography"...), one per paragraph or list
    item, those with a year: what its author-year citations ("(Sahn, 2013)") resolve to."""
    out: list[Reference] = []
    for section in sections:
        if not is_reference_list(section.path):
            continue
        for a, b in paragraph_spans(body, section.start, section.end):
            entry = " ".join(body[a:b].split())
            if entry.startswith("#"):
                continue
            ref = parse_reference(re.sub(r"^(?:[-*+]|\d+[.)])\s+", "", entry), key=f"ref{start + len(out) + 1}")
            if ref.year:
                out.append(ref)
    return out


def _key_terms(body: str) -> tuple[str, ...]:
    """Bold terms of the running text (box titles in `>` lines are headings, not definitions)."""
    prose = re.sub(r"^>.*$", "", body, flags=re.M)
    return tuple(dict.fromkeys(m.group("term").strip() for m in BOLD.finditer(prose)))
