"""Loaders turn one course file into a `Document`; `load_corpus` walks folders and collects what failed."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import LoadError
from ..types import Document
from . import concept, html, markdown

SUFFIXES = {
    ".txt": "txt",
    ".md": "md",
    ".markdown": "md",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".pdf": "pdf",
    ".docx": "docx",
}
MAX_BYTES = 20 * 1024 * 1024
MAX_TEXT_CHARS = 16_000_000  # characters of text one file may give (a DOCX or PDF can expand far beyond its size)


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


@dataclass
class LoadResult:
    """The pages that loaded, the files that did not (with reasons), and per format {"loaded": n, "skipped": m}.

    `by_format` is keyed by file format ("txt", "md", "html", "pdf", "docx"; "other" for unsupported files).
    """

    documents: list[Document] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    roots: list[Path] = field(default_factory=list)
    by_format: dict[str, dict[str, int]] = field(default_factory=dict)

    def count(self, kind: str, outcome: str) -> None:
        tally = self.by_format.setdefault(kind, {"loaded": 0, "skipped": 0})
        tally[outcome] += 1


def read_text(path: Path) -> str:
    """Read a text file: UTF-8 (with or without BOM), UTF-16 with BOM, else the encoding charset-normalizer detects
    (cp1252, Shift-JIS, ...); refuse empty, over-large and binary files with the reason."""
    _check_size(path)
    data = path.read_bytes()
    if not data.strip():
        raise LoadError("empty file")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16", errors="replace")
    elif b"\x00" in data:
        raise LoadError("binary file (contains NUL bytes)")
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = _detect(data)
    check_text_size(len(text))
    # Lone surrogates (from odd encoders) cannot be stored: replace them.
    text = text.encode("utf-8", errors="replace").decode("utf-8")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def check_text_size(chars: int) -> None:
    """Refuse a file whose text is longer than `MAX_TEXT_CHARS` (memory stays bounded by it while it is read)."""
    if chars > MAX_TEXT_CHARS:
        raise LoadError(f"its text is longer than {MAX_TEXT_CHARS:,} characters")


def check_page_size(chars: int, limit: int) -> None:
    """Refuse a page whose text is longer than `limit` (`Settings.max_page_chars`: the work of one page stays
    bounded by it)."""
    check_text_size(chars)
    if chars > limit:
        raise LoadError(f"its text is over the page limit of {limit:,} characters (ATLAS_QA_MAX_PAGE_CHARS)")


def display_path(path: Path | str) -> str:
    """A path as text that can be stored and printed: bytes that are not UTF-8 shown as \\xNN (`bad\\xff.md`),
    a backslash in a POSIX name doubled (so a file literally named `bad\\xff.md` is `bad\\\\xff.md`, another page),
    the rest as it is. `file_of` turns it back into the path."""
    raw = os.fsencode(path)
    if os.sep == "/":
        raw = raw.replace(b"\\", b"\\\\")
    return raw.decode("utf-8", errors="backslashreplace")


def file_of(shown: str) -> Path:
    """The path that `display_path` showed as `shown`."""
    if os.sep != "/":
        return Path(shown)
    parts = re.split(r"(\\\\|\\x[0-9a-f]{2})", shown)
    raw = b"".join(
        b"\\" if p == "\\\\" else bytes([int(p[2:], 16)]) if p.startswith("\\x") else p.encode() for p in parts
    )
    return Path(os.fsdecode(raw))


def _reason(exc: Exception) -> str:
    """One line for a file or folder that failed: the OS error's own words without the path, else the message."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"cannot read ({exc.strerror.lower()})"
    return str(exc)


def _detect(data: bytes) -> str:
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise LoadError("binary file (no text encoding fits)")
    if best.encoding.startswith(("cp125", "iso8859", "latin", "mac_")):
        # Short texts leave the Western code pages hard to tell apart: prefer the most common one when it fits.
        try:
            return data.decode("cp1252")
        except UnicodeDecodeError:
            pass
    return str(best)


def _check_size(path: Path) -> None:
    size = path.stat().st_size
    if size == 0:
        raise LoadError("empty file")
    if size > MAX_BYTES:
        raise LoadError(f"larger than {MAX_BYTES // (1024 * 1024)} MB")


def load_file(path: Path, root: Path, max_chars: int = MAX_TEXT_CHARS) -> Document:
    """Load one file; its page id is its path relative to `root` unless the file names its own. A text longer than
    `max_chars` is refused (before it is parsed, for a text format)."""
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise LoadError(f"unsupported file type {path.suffix or '(none)'!r}")
    rel = display_path(path.relative_to(root).as_posix() if path != root else path.name)
    source = display_path(path)
    if kind == "pdf":
        from . import pdf  # imported on use (with its sandboxed reader, pdf_sandbox.py)

        _check_size(path)
        doc = pdf.parse_file(path, page_id=rel, source=source)
    elif kind == "docx":
        from . import docx

        _check_size(path)
        doc = docx.parse_file(path, page_id=rel, source=source)
    else:
        text = read_text(path)
        check_page_size(len(text), max_chars)
        parse = {"md": markdown.parse, "html": html.parse}.get(kind, concept.parse)
        doc = parse(text, page_id=rel, source=source)
    check_page_size(len(doc.text), max_chars)
    return doc


def iter_files(root: Path, unreadable: list[Skipped]) -> Iterator[Path]:
    """Every file below `root` in a stable order; hidden folders (.git, ...) left out; links not followed, so a
    symlink loop cannot recurse. A folder that cannot be listed is added to `unreadable` (never taken as empty)."""
    if root.is_file():
        yield root
        return

    def failed(exc: OSError) -> None:
        unreadable.append(Skipped(display_path(exc.filename or root), _reason(exc)))

    for dirpath, dirnames, filenames in os.walk(root, onerror=failed, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            yield Path(dirpath) / name


def load_corpus(paths: Iterable[Path], max_chars: int = MAX_TEXT_CHARS) -> LoadResult:
    """Load every supported file under `paths`; files that fail, and folders that cannot be read, are listed in
    `skipped` with the reason (a page under a skipped path keeps its indexed version); `max_chars`: the longest page
    text loaded."""
    result = LoadResult()
    seen: dict[str, str] = {}
    for given in paths:
        if not given.exists():
            raise LoadError(f"{given} does not exist")
        root = given.resolve()
        result.roots.append(root)
        base = root if root.is_dir() else root.parent
        for path in iter_files(root, result.skipped):
            kind = SUFFIXES.get(path.suffix.lower(), "other")
            try:
                if path.name.startswith("."):
                    raise LoadError("hidden file")
                if path.is_symlink() and not path.exists():
                    raise LoadError("broken or looping symbolic link")
                doc = load_file(path, base, max_chars)
            except (LoadError, OSError, ValueError) as exc:
                result.skipped.append(Skipped(display_path(path), _reason(exc)))
                result.count(kind, "skipped")
                continue
            if doc.page_id in seen:
                result.skipped.append(
                    Skipped(display_path(path), f"duplicate page id {doc.page_id!r} (also {seen[doc.page_id]})")
                )
                result.count(kind, "skipped")
                continue
            seen[doc.page_id] = display_path(path)
            result.documents.append(doc)
            result.count(kind, "loaded")
    return result
