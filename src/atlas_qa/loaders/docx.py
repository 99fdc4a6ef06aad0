"""Word documents (.docx): headings become section paths, footnotes become `[^N]` markers and references."""

from __future__ import annotations

import re
import struct
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from ..errors import LoadError
from ..types import Document, Reference
from . import check_text_size
from .sections import heading_sections

MAX_UNZIPPED = 200 * 1024 * 1024  # a larger total is a zip bomb, not a course page
MAX_XML = 48 * 1024 * 1024  # python-docx parses every XML part whole: bound them all before parsing
READ_PIECE = 1 << 16  # bytes inflated at a time while the parts are measured
W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
FOOTNOTES_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/footnotes"
HEADING_STYLE = re.compile(r"^heading\s*(?P<level>[1-9])$", re.I)


def _check_zip(path: Path) -> None:
    """Refuse a .docx whose parts unpack too far, counting the bytes each part really inflates to (its headers
    can lie, and python-docx reads every part whole, inflating a part in one call) before python-docx opens it."""
    try:
        with zipfile.ZipFile(path) as z, path.open("rb") as raw:
            infos = z.infolist()
            if "word/document.xml" not in {i.filename for i in infos}:
                raise LoadError("not a Word document (no word/document.xml)")
            total = xml = 0
            for info in infos:
                is_xml = info.filename.endswith((".xml", ".rels"))
                cap = min(MAX_UNZIPPED - total, MAX_XML - xml if is_xml else MAX_UNZIPPED)
                size = _inflated_size(raw, info, cap)
                if size > cap:
                    if is_xml and xml + size > MAX_XML:
                        raise LoadError(f"its XML parts unpack to more than {MAX_XML >> 20} MB")
                    raise LoadError(f"unpacks to more than {MAX_UNZIPPED >> 20} MB")
                if size != info.file_size:
                    raise zipfile.BadZipFile(f"{info.filename}: {size} bytes, its header says {info.file_size}")
                total += size
                xml += size if is_xml else 0
    except (zipfile.BadZipFile, zlib.error, struct.error, EOFError):
        raise LoadError("not a valid .docx (damaged zip)") from None


def _inflated_size(raw: BinaryIO, info: zipfile.ZipInfo, cap: int) -> int:
    """How many bytes a zip entry really inflates to, read from its local header on, READ_PIECE at a time; stops
    past `cap` (then returns cap + 1)."""
    raw.seek(info.header_offset)
    local = raw.read(30)
    if local[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"{info.filename}: no local header")
    name_len, extra_len = struct.unpack("<HH", local[26:30])
    raw.seek(info.header_offset + 30 + name_len + extra_len)
    if info.compress_type == zipfile.ZIP_STORED:
        return min(info.compress_size, cap + 1)
    if info.compress_type != zipfile.ZIP_DEFLATED:
        raise zipfile.BadZipFile(f"{info.filename}: compression {info.compress_type} is not Word's")
    inflate, left, size = zlib.decompressobj(-zlib.MAX_WBITS), info.compress_size, 0
    pending = b""
    while size <= cap and not inflate.eof:
        if not pending:
            if left <= 0:
                break
            pending = raw.read(min(READ_PIECE, left))
            if not pending:
                raise EOFError(info.filename)
            left -= len(pending)
        size += len(inflate.decompress(pending, READ_PIECE))
        pending = inflate.unconsumed_tail
    return min(size, cap + 1)


def _run_text(p: Any, notes: dict[str, int]) -> str:
    """A paragraph's text in reading order, footnote references as `[^N]` (numbered as the reader sees them)."""
    out: list[str] = []
    for el in p.iter(f"{W}t", f"{W}tab", f"{W}br", f"{W}cr", f"{W}noBreakHyphen", f"{W}footnoteReference"):
        tag = el.tag
        if tag == f"{W}t":
            out.append(el.text or "")
        elif tag == f"{W}tab":
            out.append("\t")
        elif tag in (f"{W}br", f"{W}cr"):
            out.append("\n")
        elif tag == f"{W}noBreakHyphen":
            out.append("-")
        else:
            note_id = el.get(f"{W}id") or ""
            notes.setdefault(note_id, len(notes) + 1)
            out.append(f"[^{notes[note_id]}]")
    return "".join(out)


def _level(paragraph: Any) -> int:
    """Heading level of a paragraph from its style (or the style's outline level), 0 for body text."""
    style = paragraph.style
    while style is not None:
        if m := HEADING_STYLE.match(style.name or ""):
            return int(m.group("level"))
        lvl = style.element.find(f"{W}pPr/{W}outlineLvl")
        if lvl is not None and (val := lvl.get(f"{W}val", "")).isdigit() and int(val) < 9:
            return int(val) + 1
        style = style.base_style
    return 0


def _footnotes(document: Any) -> dict[str, str]:
    """Footnote id -> its text, read from word/footnotes.xml (python-docx has no API for footnotes)."""
    from docx.oxml import parse_xml  # python-docx's parser: no entity expansion

    try:
        part = document.part.part_related_by(FOOTNOTES_REL)
    except KeyError:
        return {}
    notes = {}
    for fn in parse_xml(part.blob).iter(f"{W}footnote"):
        if fn.get(f"{W}type") in ("separator", "continuationSeparator", "continuationNotice"):
            continue
        text = " ".join(_run_text(p, {}) for p in fn.iter(f"{W}p"))
        notes[fn.get(f"{W}id") or ""] = re.sub(r"\[\^\d+\]", "", re.sub(r"\s+", " ", text)).strip()
    return notes


def parse_file(path: Path, page_id: str, source: str) -> Document:
    """Load a .docx: Title, Heading 1-9 and body paragraphs (tables row by row), footnotes, core properties."""
    _check_zip(path)
    try:
        import docx
    except ImportError:
        raise LoadError("reading .docx needs python-docx: pip install python-docx") from None
    try:
        document = docx.Document(str(path))
    except Exception as exc:  # noqa: BLE001 - python-docx raises many kinds for a damaged file
        raise LoadError(f"unreadable .docx ({type(exc).__name__})") from None

    from docx.table import Table
    from docx.text.paragraph import Paragraph

    notes: dict[str, int] = {}
    blocks: list[tuple[int, str]] = []  # (heading level or 0, text); -1 marks the Title paragraph
    chars = 0
    for item in document.iter_inner_content():
        before = len(blocks)
        if isinstance(item, Paragraph):
            text = re.sub(r"[ \t]+", " ", _run_text(item._p, notes)).strip()
            if text:
                is_title = (item.style.name if item.style is not None else "") == "Title"
                blocks.append((-1 if is_title else _level(item), text))
        elif isinstance(item, Table):
            for row in item.rows:
                cells = [re.sub(r"\s+", " ", _run_text(c._tc, notes)).strip() for c in row.cells]
                cells = [c for i, c in enumerate(cells) if c and (i == 0 or c != cells[i - 1])]  # merged cells repeat
                if cells:
                    blocks.append((0, " | ".join(cells)))
        chars += sum(len(text) + 2 for _, text in blocks[before:])
        check_text_size(chars)  # stop once the text is over the limit, not after building all of it
    if not blocks:
        raise LoadError("empty document (no text)")

    props = document.core_properties
    title = next((t for lvl, t in blocks if lvl == -1), "") or (props.title or "").strip()
    body = [(lvl, text) for lvl, text in blocks if lvl != -1]  # the Title paragraph is the title, not text
    parts = [text for _, text in body]
    sections = heading_sections(body)
    if not title:
        title = PurePosixPath(page_id).stem.replace("_", " ").replace("-", " ")

    texts = _footnotes(document) if notes else {}
    references = tuple(Reference(key=f"^{n}", text=texts.get(note_id, "")) for note_id, n in notes.items())
    meta = {
        "author": (props.author or "").strip(),
        "date": (props.modified or props.created).date().isoformat() if (props.modified or props.created) else "",
        "subject": (props.subject or "").strip(),
    }
    return Document(
        page_id=page_id,
        title=title,
        text="\n\n".join(parts) + "\n",
        source=source,
        format="docx",
        sections=sections,
        references=tuple(r for r in references if r.text),
        metadata={k: v for k, v in meta.items() if v},
    )
