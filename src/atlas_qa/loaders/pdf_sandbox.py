"""The PDF reader's sandbox: pypdf reads the file in a child process (`python -m atlas_qa.loaders.pdf_sandbox FILE`)
with a time limit, a memory limit and tighter decompression limits, so a hostile PDF (a decompression bomb, a parser
loop) costs at most `TIMEOUT` seconds and is skipped with a reason. The child prints each page's lines (text,
baseline, font size), the outline and the metadata as JSON; `pdf.py` lays them out into a Document.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import LoadError
from . import check_text_size

TIMEOUT = 60.0  # seconds for one PDF
MEMORY_LIMIT = 1 << 30  # bytes of address space for the child (POSIX only)
DECODE_LIMIT = 50_000_000  # bytes one stream may decompress to


@dataclass(frozen=True)
class Line:
    """One text line of a page: its text, baseline height (PDF units, up is larger) and font size."""

    text: str
    y: float
    size: float


def _lines_of(page) -> list[Line]:  # type: ignore[no-untyped-def]
    """Lines of one page with the position and size of the text drawn for each (pypdf's plain extraction)."""
    lines: list[Line] = []
    buf: list[str] = []
    attrs: list[tuple[float, float]] = []

    def visit(text: str, cm: list[float], tm: list[float], font: object, size: float) -> None:
        # Text space -> device space: the text matrix times the current transformation matrix.
        b = tm[0] * cm[1] + tm[1] * cm[3]
        d = tm[2] * cm[1] + tm[3] * cm[3]
        y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
        scale = (b * b + d * d) ** 0.5 or 1.0
        parts = text.split("\n")
        for i, part in enumerate(parts):
            if part.strip():
                buf.append(part)
                attrs.append((y, size * scale))
            elif part:
                buf.append(part)
            if i < len(parts) - 1:
                _flush()

    def _flush() -> None:
        text = "".join(buf)
        if text.strip():
            lines.append(Line(text, round(attrs[0][0], 2), round(max(s for _, s in attrs), 2)))
        buf.clear()
        attrs.clear()

    page.extract_text(visitor_text=visit)
    _flush()
    return lines


def extract(path: str) -> dict:  # type: ignore[type-arg]
    """Everything the parent needs from a PDF, as JSON-ready data (runs in the child process)."""
    import pypdf

    with pypdf.apply_configuration(
        zlib_maximum_output_length=DECODE_LIMIT,
        lzw_maximum_output_length=DECODE_LIMIT,
        run_length_maximum_output_length=DECODE_LIMIT,
        array_based_stream_maximum_output_length=DECODE_LIMIT,
        maximum_declared_stream_length=DECODE_LIMIT,
        jbig2dec_binary=None,  # never run an external decoder on untrusted input
    ):
        reader = pypdf.PdfReader(path)
        if reader.is_encrypted:
            try:
                if not reader.decrypt(""):
                    raise LoadError("encrypted PDF (needs a password)")
            except (NotImplementedError, pypdf.errors.PyPdfError) as exc:
                raise LoadError(f"encrypted PDF ({exc})") from None
        labels = reader.page_labels
        pages = []
        chars = 0
        for i, page in enumerate(reader.pages):
            label = labels[i] if i < len(labels) else str(i + 1)
            lines = _lines_of(page)
            chars += sum(len(ln.text) + 1 for ln in lines)
            check_text_size(chars)  # stop reading once the text is over the limit, not after
            pages.append({"label": label, "lines": [[ln.text, ln.y, ln.size] for ln in lines]})
        outline: list[list[object]] = []

        def walk(items: list, level: int) -> None:  # type: ignore[type-arg]
            for item in items:
                if isinstance(item, list):
                    walk(item, level + 1)
                    continue
                try:
                    number = reader.get_destination_page_number(item)
                except Exception:  # noqa: BLE001 - a broken bookmark is ignored, not fatal
                    continue
                if number is not None and number >= 0:
                    outline.append([str(item.title or ""), number, level])

        try:
            walk(reader.outline, 1)
        except Exception:  # noqa: BLE001 - a broken outline falls back to font sizes
            outline = []
        info: dict[str, object] = dict(reader.metadata or {})
        meta = {k: str(info.get(f"/{k.title()}") or "") for k in ("title", "author")}
    return {"pages": pages, "outline": outline, "meta": meta}


def _child_main(path: str) -> int:
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    except (ImportError, ValueError, OSError):
        pass  # no rlimit on this platform: the time limit still holds
    try:
        out = extract(path)
    except LoadError as exc:
        out = {"error": str(exc)}
    except MemoryError:
        out = {"error": f"needs more than {MEMORY_LIMIT >> 20} MB of memory to read"}
    except Exception as exc:  # noqa: BLE001 - any pypdf failure becomes a skip reason
        if type(exc).__name__ == "LimitReachedError":
            out = {"error": f"PDF exceeds a safety limit of the reader ({exc})"[:300]}
        else:
            out = {"error": f"unreadable PDF ({type(exc).__name__}: {exc})"[:300]}
    sys.stdout.write(json.dumps(out))
    return 0


def child_command(path: Path) -> list[str]:
    """The command that reads `path` in the child process."""
    return [sys.executable, "-m", "atlas_qa.loaders.pdf_sandbox", str(path)]


def read_pdf(path: Path, timeout: float | None = None) -> dict:  # type: ignore[type-arg]
    """Run `extract` on `path` in a child process; a LoadError with the reason when it fails or times out."""
    limit = TIMEOUT if timeout is None else timeout
    # The child imports this package from where the parent did, installed or not.
    package_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p))
    try:
        proc = subprocess.run(
            child_command(path), capture_output=True, timeout=limit, stdin=subprocess.DEVNULL, env=env
        )
    except subprocess.TimeoutExpired:
        raise LoadError(f"PDF took longer than {limit:g} s to read (damaged or hostile file?)") from None
    try:
        data = json.loads(proc.stdout.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [f"exit code {proc.returncode}"]
        raise LoadError(f"PDF reader failed ({tail[0][:200]})") from None
    if "error" in data:
        raise LoadError(data["error"])
    return data


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1]))
