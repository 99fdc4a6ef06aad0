"""PDF files: text per page, headings, and the PDF's own page numbers in every section path ("Rules > p. 12").

pypdf reads the file in a sandboxed child process (`pdf_sandbox.py`: time, memory and decompression limits).
This module turns the child's lines into a `Document`: repeated headers and footers dropped, line-end hyphenation
repaired, paragraphs rebuilt from line spacing, headings taken from the outline or else from font size.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import LoadError
from ..types import Document, Section
from .pdf_sandbox import Line, read_pdf
from .sections import SEPARATOR, HeadingTrail

MIN_TEXT_CHARS = 20  # fewer letters than this in the whole file: no text layer
LIGATURES = str.maketrans({"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st"})
PAGE_NUMBER = re.compile(
    r"^(?:page\s+)?(?:\d+|m{0,3}(?:cm|cd|d?c{0,3})(?:xc|xl|l?x{0,3})(?:ix|iv|v?i{0,3}))(?:\s*(?:/|of)\s*\d+)?$", re.I
)
JUNK_TITLE = re.compile(r"^(?:untitled|\(unspecified\)|microsoft word\b.*|.*\.(?:docx?|pdf|tex|indd))$", re.I)


@dataclass(frozen=True)
class Page:
    label: str
    lines: tuple[Line, ...]


@dataclass(frozen=True)
class Heading:
    title: str
    page: int  # index into the pages
    level: int


def _norm(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()


def _shape(s: str) -> str:
    """A line's shape for spotting running headers and footers: digits do not count ('Page 3' ~ 'Page 4')."""
    return re.sub(r"\d+", "#", _norm(s).lower())


def strip_running_lines(pages: list[Page]) -> list[Page]:
    """Drop headers and footers: lines at a page's top or bottom that recur on most pages, and bare page numbers."""

    def edge_lines(p: Page) -> list[Line]:
        ys = sorted({ln.y for ln in p.lines})
        edge = set(ys[:2] + ys[-2:])
        return [ln for ln in p.lines if ln.y in edge]

    counts = Counter(shape for p in pages for shape in {_shape(ln.text) for ln in edge_lines(p)})
    need = max(2, -(-len(pages) * 6 // 10))  # on 60% of the pages, and on two at least
    out = []
    for p in pages:
        edges = {id(ln) for ln in edge_lines(p)}
        kept = tuple(
            ln
            for ln in p.lines
            if id(ln) not in edges
            or not (counts[_shape(ln.text)] >= need or PAGE_NUMBER.match(_norm(ln.text)) or _norm(ln.text) == p.label)
        )
        out.append(Page(p.label, kept))
    return out


def _body_size(pages: list[Page]) -> float:
    sizes: Counter[float] = Counter()
    for p in pages:
        for ln in p.lines:
            sizes[round(ln.size, 1)] += len(ln.text)
    return sizes.most_common(1)[0][0] if sizes else 0.0


def _font_headings(pages: list[Page], body: float) -> dict[tuple[int, int], int]:
    """Lines set larger than the body text: (page, line) -> heading level (1 for the largest size)."""
    found = {
        (i, j): round(ln.size, 1)
        for i, p in enumerate(pages)
        for j, ln in enumerate(p.lines)
        if body and ln.size >= body * 1.15 and len(ln.text) <= 150 and re.search(r"[A-Za-z]", ln.text)
    }
    levels = {size: k + 1 for k, size in enumerate(sorted(set(found.values()), reverse=True))}
    return {key: levels[size] for key, size in found.items()}


def _outline_headings(pages: list[Page], outline: list[Heading]) -> dict[tuple[int, int], int]:
    """Bookmarks placed on the lines that show their title (or on the page's first line when none does)."""
    found: dict[tuple[int, int], int] = {}
    for h in outline:
        if not 0 <= h.page < len(pages) or not pages[h.page].lines:
            continue
        title = _norm(h.title).lower()
        lines = [_norm(ln.text).lower() for ln in pages[h.page].lines]
        start = next(
            (j for j, t in enumerate(lines) if t == title or (len(t) >= len(title) / 2 and title.startswith(t))), None
        )
        if start is None:
            found.setdefault((h.page, 0), h.level)
            continue
        shown, end = lines[start], start + 1
        while end < len(lines) and len(shown) < len(title) and title.startswith(f"{shown} {lines[end]}"):
            shown = f"{shown} {lines[end]}"  # a title wrapped over several lines
            end += 1
        for j in range(start, end):
            found.setdefault((h.page, j), h.level)
    return found


def _join(lines: list[str], words: set[str]) -> str:
    """Join a paragraph's lines, repairing words hyphenated at a line end ('gov-' + 'ernment')."""
    out = ""
    for line in lines:
        line = line.strip()
        m = re.search(r"(\w*[^\W\d_])([-\xad])$", out)
        if m and line[:1].islower():
            head, first = m.group(1), re.match(r"\w*", line).group(0)  # type: ignore[union-attr]
            # Keep the hyphen of a compound the document writes hyphenated elsewhere ("self-interest").
            compound = m.group(2) == "-" and f"{head}-{first}".lower() in words and (head + first).lower() not in words
            out = (out if compound else out[:-1]) + line
        else:
            out = f"{out.rstrip(chr(0xAD))} {line}" if out else line
    return out


@dataclass(frozen=True)
class _Para:
    page: int
    text: str
    heading: int  # heading level, 0 for body text


def _paragraphs(pages: list[Page], headings: dict[tuple[int, int], int], words: set[str]) -> list[_Para]:
    """Lines -> paragraphs: a new one at a heading, a font change, or a gap wider than the page's usual leading."""
    # The usual line spacing per font size, from the whole document: most gaps between lines are within paragraphs.
    gaps: dict[float, list[float]] = {}
    for p in pages:
        for a, b in zip(p.lines, p.lines[1:], strict=False):
            if 0 < a.y - b.y and abs(a.size - b.size) < 0.5:
                gaps.setdefault(round(b.size), []).append(a.y - b.y)
    leadings = {size: sorted(g)[len(g) // 4] for size, g in gaps.items()}
    paras: list[_Para] = []
    for i, p in enumerate(pages):
        group: list[str] = []
        level = 0
        prev: Line | None = None
        for j, ln in enumerate(p.lines):
            h = headings.get((i, j), 0)
            new = (
                prev is None
                or h != level
                or abs(ln.size - prev.size) >= 0.5
                or not 0 < prev.y - ln.y <= max(leadings.get(round(ln.size), 0.0) * 1.25, ln.size * 1.35) + 0.01
            )
            if new and group:
                paras.append(_Para(i, _join(group, words), level))
                group = []
            group.append(ln.text)
            level = h
            prev = ln
        if group:
            paras.append(_Para(i, _join(group, words), level))
    return _carry_hyphens(paras)


def _carry_hyphens(paras: list[_Para]) -> list[_Para]:
    """A word hyphenated across a page break is completed on the page where it starts."""
    out = list(paras)
    for k in range(len(out) - 1):
        a, b = out[k], out[k + 1]
        if b.page == a.page + 1 and not a.heading and not b.heading and re.search(r"\w-$", a.text):
            m = re.match(r"([a-z]\w*)[,.;:]?\s*", b.text)
            if m and m.end() < len(b.text):
                out[k] = _Para(a.page, a.text[:-1] + b.text[: m.end()].rstrip(), 0)
                out[k + 1] = _Para(b.page, b.text[m.end() :], 0)
    return [p for p in out if p.text.strip()]


def _locator(label: str) -> str:
    return f"p. {label}"


def build(data: dict, page_id: str, source: str) -> Document:  # type: ignore[type-arg]
    """The Document for a PDF from what `extract` returned.

    The text is the pages' paragraphs separated by blank lines; one Section per page (and per heading within a page)
    whose path ends with the page's printed number, so every chunk, and so every citation, shows its page.
    """
    raw = [
        Page(str(p["label"]), tuple(Line(t.translate(LIGATURES), y, s) for t, y, s in p["lines"]))
        for p in data["pages"]
    ]
    if sum(len(re.findall(r"[^\W\d_]", ln.text)) for p in raw for ln in p.lines) < MIN_TEXT_CHARS:
        raise LoadError("PDF has no text layer (scanned images?): run OCR on it first")
    pages = strip_running_lines(raw)
    outline = [Heading(t, int(n), int(lv)) for t, n, lv in data.get("outline", []) if _norm(str(t))]
    headings = _outline_headings(pages, outline) if outline else _font_headings(pages, _body_size(pages))
    words = {w.lower() for p in pages for ln in p.lines for w in re.findall(r"\w+(?:-\w+)*", ln.text)}
    paras = _paragraphs(pages, headings, words)

    # A lone top-level heading on the first page is the document's title, not a section.
    top = [p for p in paras if p.heading == 1]
    title = ""
    if len(top) == 1 and top[0].page == 0:
        title = top[0].text
        paras = [p if p is not top[0] else _Para(p.page, p.text, -1) for p in paras]
    meta_title = _norm(data.get("meta", {}).get("title", ""))
    if not title:
        title = meta_title if meta_title and not JUNK_TITLE.match(meta_title) else PurePosixPath(page_id).stem

    text_parts: list[str] = []
    sections: list[Section] = []
    trail = HeadingTrail()
    pos = 0
    open_start = 0
    open_path = ""
    for k, para in enumerate(paras):
        label = pages[para.page].label
        if para.heading > 0:
            trail.push(para.heading, para.text)
        path = SEPARATOR.join([*trail.titles, _locator(label)])
        if k and path != open_path:
            sections.append(Section(open_path, open_start, pos - 2))
            open_start = pos
        open_path = path
        text_parts.append(para.text)
        pos += len(para.text) + 2
    if paras:
        sections.append(Section(open_path, open_start, pos - 2))
    text = "\n\n".join(text_parts) + "\n"

    meta = {"pages": str(len(pages))}
    if blank := [p.label for p in raw if not p.lines]:
        meta["pages_without_text"] = ", ".join(blank)  # image-only pages in a PDF that has text elsewhere
    if (author := _norm(data.get("meta", {}).get("author", ""))) and author.lower() != "(anonymous)":
        meta["author"] = author
    if pages:
        meta["first_page"], meta["last_page"] = pages[0].label, pages[-1].label
    return Document(
        page_id=page_id,
        title=title,
        text=text,
        source=source,
        format="pdf",
        sections=tuple(sections),
        metadata=meta,
    )


def parse_file(path: Path, page_id: str, source: str, timeout: float | None = None) -> Document:
    """Load one PDF (read in a child process with a time limit)."""
    return build(read_pdf(path, timeout), page_id, source)
