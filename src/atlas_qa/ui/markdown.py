"""Course text as safe HTML: the Markdown of the course pages rendered, with the app's highlight spans kept.

Everything taken from the page is HTML-escaped; the only markup is ours (paragraphs, headings, `**bold**`, `*italic*`,
`` `code` ``, lists, `>` boxes, `*Figure: …*` captions, pipe tables and the corpus's one-line `Table: a; b | c; d`
tables, `[^n]` footnote markers as superscripts, and links only to http(s) or mailto addresses). Raw HTML in a page is
shown as text and never runs.

Spans (marks, layers) are character offsets into the raw text. Every piece of text the renderer emits keeps the raw
offsets of its characters, so a span is marked wherever its characters land: split into several adjacent <mark>s where
it crosses bold, a line or a block, since a mark never straddles an element boundary.
"""

from __future__ import annotations

import html
import re
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from ..types import Document

Line = tuple[int, int]  # a line of the raw text (or its content after a "> " prefix): [start, end)

HEADING = re.compile(r"[ \t]{0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
QUOTE = re.compile(r"[ \t]{0,3}>[ \t]?")
ITEM = re.compile(r"([ \t]*)(?:([-*+])|(\d{1,9})[.)])[ \t]+(?=\S)")
CAPTION = re.compile(r"\*(?!\*)((?:Figure|Table|Photo|Image|Map|Chart|Source)\b.*?)(?<![\s*])\*[ \t]*$")
FLAT_TABLE = re.compile(r"Table:[ \t]*(?=\S)")
RULE = re.compile(r"[ \t]{0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
TABLE_SEP = re.compile(r"[ \t]*\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$")
INLINE = re.compile(r"\\[\\`*_\[\]()#+\-.!|>~]|\[\^([^\]\s]+)\]|\*\*|\*|`|\[")
LINK = re.compile(r"\[([^\]\n]+)\]\(((?:https?://|mailto:)[^\s()<>\"']+)\)", re.I)


class Overlay(Protocol):
    """A span to show over the text: `ui.Layer` and `Mark` both fit."""

    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def cls(self) -> str: ...
    @property
    def title(self) -> str: ...


@dataclass(frozen=True)
class Mark:
    """A span of the raw text to mark; no class (or the class "hit") makes a <mark>, another class a <span>."""

    start: int
    end: int
    cls: str = ""
    title: str = ""


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def footnotes(doc: Document) -> dict[str, str]:
    """The page's footnotes, key (without "^") to text, in page order."""
    return {r.key[1:]: r.text for r in doc.references if r.key.startswith("^")}


def render_passage(text: str, spans: Sequence[tuple[int, int]], doc: Document | None) -> str:
    """A passage of `doc` (a slice of its text) with `spans` (offsets into `text`) marked: Markdown rendered when the
    page is Markdown (headings as strong lines, footnote markers as superscripts titled with their note), else the
    text escaped as it is."""
    marks = [Mark(a, b) for a, b in spans]
    if doc is None or doc.format != "markdown":
        return _as_written(text, marks)
    return render_markdown(text, marks, notes=footnotes(doc))


def render_document(doc: Document, overlays: Sequence[Overlay] = ()) -> str:
    """A whole page with the overlays shown: Markdown pages rendered, their footnotes listed at the end (ids `fn-<n>`,
    linked from the markers); other pages escaped as they are."""
    if doc.format != "markdown":
        return _as_written(doc.text, overlays)
    return render_markdown(doc.text, overlays, notes=footnotes(doc), page=True)


def render_markdown(
    text: str, overlays: Sequence[Overlay] = (), *, notes: Mapping[str, str] | None = None, page: bool = False
) -> str:
    """`text` (Markdown) as safe HTML in a `<div class="aq-md">`, the overlays (offsets into `text`) shown.

    Args:
        notes: footnote texts by key; a marker whose note is known is titled with it.
        page: a whole page: real headings, markers linked to a list of the notes appended at the end. Otherwise a
            passage: headings as strong lines, markers not linked (the passage has no notes to link to).
    """
    r = _Renderer(text, overlays, notes or {}, page)
    body = r.blocks(_lines(text))
    if page and notes:
        body += r.notes_list()
    return f'<div class="aq-md">{body}</div>'


def render_inline(text: str) -> str:
    """One line of course text (a citation label as written, a note) with its inline Markdown rendered, no blocks."""
    return _Renderer(text, (), {}, False).inline([(0, len(text))])


def _as_written(text: str, overlays: Sequence[Overlay]) -> str:
    """Text that is not Markdown: escaped as it is, the overlays shown."""
    return _Painter(text, overlays).paint(text, range(len(text)), 0, len(text))


def _lines(text: str) -> list[Line]:
    out, pos = [], 0
    for line in text.split("\n"):
        out.append((pos, pos + len(line)))
        pos += len(line) + 1
    return out


def _anchor(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", key)


class _Painter:
    """Escapes stretches of text, wrapping each run of characters under the same overlays in one <mark>/<span>."""

    def __init__(self, text: str, overlays: Sequence[Overlay]) -> None:
        kept = [(max(0, o.start), min(len(text), o.end), o) for o in overlays]
        kept = [k for k in kept if k[0] < k[1]]
        self.cuts = sorted({c for a, b, _ in kept for c in (a, b)})
        # the (opening, closing) tags for raw offsets in [cuts[k-1], cuts[k])
        self.tags: list[tuple[str, str]] = [("", "")] * (len(self.cuts) + 1)
        for k in range(1, len(self.cuts)):
            over = [o for a, b, o in kept if a <= self.cuts[k - 1] and self.cuts[k] <= b]
            if not over:
                continue
            classes = " ".join(dict.fromkeys(o.cls for o in over if o.cls))
            titles = " · ".join(dict.fromkeys(o.title for o in over if o.title))
            tag = "mark" if any(o.cls in ("", "hit") for o in over) else "span"
            attrs = (f' class="{esc(classes)}"' if classes else "") + (f' title="{esc(titles)}"' if titles else "")
            self.tags[k] = (f"<{tag}{attrs}>", f"</{tag}>")

    def paint(self, s: str, pos: Sequence[int], i: int, j: int) -> str:
        """s[i:j] escaped; `pos[k]` is the raw offset of s[k] (increasing with k)."""
        if i >= j:
            return ""
        if not self.cuts:
            return esc(s[i:j])
        runs: list[tuple[tuple[str, str], int, int]] = []  # (tags, from, to), neighbours with the same tags merged
        k = i
        while k < j:
            seg = bisect_right(self.cuts, pos[k])
            end = bisect_left(pos, self.cuts[seg], k, j) if seg < len(self.cuts) else j
            if runs and runs[-1][0] == self.tags[seg]:
                runs[-1] = (runs[-1][0], runs[-1][1], end)
            else:
                runs.append((self.tags[seg], k, end))
            k = end
        return "".join(f"{o}{esc(s[a:b])}{c}" for (o, c), a, b in runs)


class _Renderer:
    """Block and inline rendering of one text; every emitted character goes through the painter."""

    def __init__(self, text: str, overlays: Sequence[Overlay], notes: Mapping[str, str], page: bool) -> None:
        self.text, self.notes, self.page = text, notes, page
        self.painter = _Painter(text, overlays)
        self.referenced: set[str] = set()

    # -- blocks ----------------------------------------------------------------------------------------------------

    def blocks(self, lines: list[Line]) -> str:
        out, n = [], 0
        while n < len(lines):
            a, b = lines[n]
            line = self.text[a:b]
            if not line.strip():
                n += 1
            elif m := HEADING.match(line):
                out.append(self.heading(len(m.group(1)), [(a + m.start(2), a + m.end(2))]))
                n += 1
            elif QUOTE.match(line):
                inner = []
                while n < len(lines) and (q := QUOTE.match(self.text[lines[n][0] : lines[n][1]])):
                    inner.append((lines[n][0] + q.end(), lines[n][1]))
                    n += 1
                out.append(f'<blockquote class="aq-md-quote">{self.blocks(inner)}</blockquote>')
            elif "|" in line and n + 1 < len(lines) and TABLE_SEP.match(self.text[slice(*lines[n + 1])]):
                rows = [lines[n]]
                n += 2
                while n < len(lines) and "|" in self.text[slice(*lines[n])] and self.text[slice(*lines[n])].strip():
                    rows.append(lines[n])
                    n += 1
                out.append(self.table([self.pipe_cells(row) for row in rows]))
            elif m := FLAT_TABLE.match(line):
                out.append(self.table(self.flat_rows(a + m.end(), b)))
                n += 1
            elif RULE.match(line):
                out.append("<hr>")
                n += 1
            elif ITEM.match(line):
                html_, n = self.items(lines, n)
                out.append(html_)
            elif m := CAPTION.match(line):
                out.append(f'<p class="aq-md-caption">{self.inline([(a + m.start(1), a + m.end(1))])}</p>')
                n += 1
            else:
                para = [lines[n]]
                n += 1
                while n < len(lines) and not self.starts_block(self.text[slice(*lines[n])]):
                    para.append(lines[n])
                    n += 1
                out.append(f"<p>{self.inline(para)}</p>")
        return "".join(out)

    def starts_block(self, line: str) -> bool:
        """Whether a line ends the paragraph before it (a blank line or the start of another block)."""
        item = ITEM.match(line)
        return (
            not line.strip()
            or bool(HEADING.match(line) or QUOTE.match(line) or FLAT_TABLE.match(line) or CAPTION.match(line))
            or bool(RULE.match(line))
            or bool(item and (item.group(2) or item.group(3) == "1"))
        )

    def heading(self, level: int, content: list[Line]) -> str:
        if not self.page:
            return f'<p class="aq-md-h"><strong>{self.inline(content)}</strong></p>'
        tag = f"h{min(level + 1, 6)}"
        return f'<{tag} class="aq-md-h">{self.inline(content)}</{tag}>'

    def items(self, lines: list[Line], n: int) -> tuple[str, int]:
        """A run of list items of one kind (bullets or numbers) from line n; indented lines continue an item."""
        first = ITEM.match(self.text[slice(*lines[n])])
        assert first is not None
        ordered = first.group(3) is not None
        items: list[list[Line]] = []
        while n < len(lines):
            a, b = lines[n]
            line = self.text[a:b]
            m = ITEM.match(line)
            if m and (m.group(3) is not None) == ordered:
                items.append([(a + m.end(), b)])
            elif items and line.strip() and line[:1] in " \t" and not m:
                items[-1].append((a + len(line) - len(line.lstrip()), b))
            else:
                break
            n += 1
        lis = "".join(f"<li>{self.inline(item)}</li>" for item in items)
        if not ordered:
            return f"<ul>{lis}</ul>", n
        start = int(first.group(3))
        return (f'<ol start="{start}">' if start != 1 else "<ol>") + f"{lis}</ol>", n

    def pipe_cells(self, row: Line) -> list[Line]:
        a, b = row
        line = self.text[a:b]
        bars = [i for i, ch in enumerate(line) if ch == "|" and (i == 0 or line[i - 1] != "\\")]
        edges = [-1, *bars, len(line)]
        cells = [(a + x + 1, a + y) for x, y in zip(edges, edges[1:])]
        if line.strip().startswith("|"):
            cells = cells[1:]
        if line.strip().endswith("|") and cells:
            cells = cells[:-1]
        return [self.trim(c) for c in cells]

    def flat_rows(self, a: int, b: int) -> list[list[Line]]:
        """`Table: a; b | c; d`: rows split by " | ", cells by "; " (the corpus's flattened tables)."""
        rows = []
        for row in _split(self.text, a, b, " | "):
            rows.append([self.trim(c) for c in _split(self.text, row[0], row[1], "; ")])
        return rows

    def trim(self, cell: Line) -> Line:
        a, b = cell
        while a < b and self.text[a] in " \t":
            a += 1
        while b > a and self.text[b - 1] in " \t":
            b -= 1
        return a, b

    def table(self, rows: list[list[Line]]) -> str:
        """The first row as the header; a shorter row's last cell spans the missing columns (no text is dropped)."""
        width = max(len(r) for r in rows)

        def row_html(cells: list[Line], tag: str) -> str:
            out = []
            for i, cell in enumerate(cells):
                span = width - len(cells) + 1 if i == len(cells) - 1 and len(cells) < width else 1
                colspan = f' colspan="{span}"' if span > 1 else ""
                out.append(f"<{tag}{colspan}>{self.inline([cell])}</{tag}>")
            return f"<tr>{''.join(out)}</tr>"

        head = f"<thead>{row_html(rows[0], 'th')}</thead>"
        body = "".join(row_html(r, "td") for r in rows[1:])
        return (
            f'<div class="aq-md-tablewrap"><table class="aq-md-table">{head}'
            + (f"<tbody>{body}</tbody>" if body else "")
            + "</table></div>"
        )

    def notes_list(self) -> str:
        items = []
        for key, note in self.notes.items():
            value = f' value="{int(key)}"' if key.isdigit() else ""
            back = (
                f' <a class="aq-fn-back" href="#fnref-{_anchor(key)}" aria-label="Back to the text">↩</a>'
                if key in self.referenced
                else ""
            )
            items.append(f'<li id="fn-{_anchor(key)}"{value}>{render_inline(note)}{back}</li>')
        return f'<section class="aq-md-notes" aria-label="Notes"><h3>Notes</h3><ol>{"".join(items)}</ol></section>'

    # -- inline ----------------------------------------------------------------------------------------------------

    def inline(self, segments: list[Line]) -> str:
        """The segments (lines of one block) joined by line breaks, with inline Markdown rendered."""
        parts: list[str] = []
        pos: list[int] = []
        for k, (a, b) in enumerate(segments):
            if k:
                parts.append("\n")
                pos.append(segments[k - 1][1])  # the raw line break (or the "> " prefix after it)
            parts.append(self.text[a:b])
            pos.extend(range(a, b))
        s = "".join(parts)
        return self.span(s, pos, 0, len(s))

    def span(self, s: str, pos: list[int], i: int, j: int) -> str:
        out, done, k = [], i, i
        while (m := INLINE.search(s, k, j)) is not None:
            rendered = self.token(s, pos, m, j)
            if rendered is None:
                k = m.start() + 1
                continue
            html_, end = rendered
            out += [self.painter.paint(s, pos, done, m.start()), html_]
            done = k = end
        out.append(self.painter.paint(s, pos, done, j))
        return "".join(out)

    def token(self, s: str, pos: list[int], m: re.Match[str], j: int) -> tuple[str, int] | None:
        """The HTML of the inline element starting at m and where it ends in s, or None when it is plain text."""
        a, tok = m.start(), m.group(0)
        if tok.startswith("\\"):
            return self.painter.paint(s, pos, a + 1, a + 2), a + 2
        if m.group(1) is not None:
            return self.footnote(m.group(1), s, pos, a + 2, m.end() - 1), m.end()
        if tok == "**":
            c = _closing(s, a + 2, j, "**")
            return (f"<strong>{self.span(s, pos, a + 2, c)}</strong>", c + 2) if c is not None else None
        if tok == "*":
            c = _closing(s, a + 1, j, "*")
            return (f"<em>{self.span(s, pos, a + 1, c)}</em>", c + 1) if c is not None else None
        if tok == "`":
            c = s.find("`", a + 1, j)
            return (f"<code>{self.painter.paint(s, pos, a + 1, c)}</code>", c + 1) if c > a + 1 else None
        link = LINK.match(s, a, j)
        if link is None:
            return None
        inner = self.span(s, pos, a + 1, link.end(1))
        href = esc(link.group(2))
        return f'<a href="{href}" target="_blank" rel="noopener noreferrer nofollow">{inner}</a>', link.end()

    def footnote(self, key: str, s: str, pos: list[int], i: int, j: int) -> str:
        label = self.painter.paint(s, pos, i, j)
        note = self.notes.get(key)
        title = f' title="{esc(note)}"' if note else ""
        if not (self.page and note):
            return f'<sup class="aq-fn"{title}>{label}</sup>'
        anchor = _anchor(key)
        first = key not in self.referenced
        self.referenced.add(key)
        ref_id = f' id="fnref-{anchor}"' if first else ""
        return f'<sup class="aq-fn"><a href="#fn-{anchor}"{ref_id}{title}>{label}</a></sup>'


def _closing(s: str, i: int, j: int, delim: str) -> int | None:
    """Where the emphasis opened just before s[i] closes: the next `delim` not preceded by a space (for "*", one that
    is not part of a "**" pair), with some text between; None when it never closes."""
    if i >= j or s[i].isspace():
        return None
    k = i + 1
    while k < j:
        if s.startswith("**", k) and delim == "*":
            k += 2
            continue
        if s.startswith(delim, k) and not s[k - 1].isspace() and k + len(delim) <= j:
            return k
        k += 1
    return None


def _split(text: str, a: int, b: int, sep: str) -> list[Line]:
    out, start = [], a
    while (k := text.find(sep, start, b)) >= 0:
        out.append((start, k))
        start = k + len(sep)
    out.append((start, b))
    return out
