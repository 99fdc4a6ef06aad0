"""Test files built on the fly (reportlab PDFs, python-docx documents) and shared helpers of the loader tests."""

from __future__ import annotations

import re
import zlib
from pathlib import Path

from atlas_qa.loaders import concept

from ..conftest import DATA, SEED

FORMATS = DATA / "formats"
SAVED_PAGE = FORMATS / "digital-technology-and-service-delivery.html"
PAGE_RE = re.compile(r"(?:^|> )p\. \d+$")


def norm(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()


def md_blocks(name: str) -> tuple[str, list[str]]:
    """(title, blocks) of a polisci Markdown page: front matter, footnotes and emphasis removed."""
    text = (DATA / "polisci" / name).read_text(encoding="utf-8").split("---", 2)[2]
    text = re.sub(r"^\[\^\d+\]:.*$", "", text, flags=re.M)
    text = re.sub(r"\[\^\d+\]", "", text)
    blocks = [b.strip() for b in re.split(r"\n\s*\n", text) if b.strip()]
    return blocks[0].lstrip("# "), blocks[1:]


def seed_doc():
    return concept.parse(
        SEED.read_text(encoding="utf-8"), "atlas107/digital-technology-and-service-delivery.txt", str(SEED)
    )


def make_pdf(path: Path, outline: bool = True, first_label: int = 12) -> Path:
    """m00003 as a printed book chapter: running header and page-number footer, printed pages from `first_label`,
    headings in a larger font (and as bookmarks when `outline`), two words hyphenated at a line end."""
    from reportlab.lib.pagesizes import letter
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate

    title, blocks = md_blocks("m00003.md")
    styles = getSampleStyleSheet()

    class Chapter(SimpleDocTemplate):
        def afterFlowable(self, flowable):  # type: ignore[no-untyped-def]
            if outline and isinstance(flowable, Paragraph) and flowable.style.name in ("Title", "Heading2"):
                key = f"h{id(flowable)}"
                self.canv.bookmarkPage(key)
                self.canv.addOutlineEntry(flowable.getPlainText(), key, level=int(flowable.style.name != "Title"))

    def running_lines(canvas, _doc):  # type: ignore[no-untyped-def]
        canvas.saveState()
        canvas.setFont("Helvetica", 8)
        canvas.drawString(72, 750, "Introduction to Political Science — Chapter 1")
        canvas.drawCentredString(306, 40, str(first_label - 1 + canvas.getPageNumber()))
        canvas.restoreState()
        if canvas.getPageNumber() == 1:
            canvas.addPageLabel(0, "D", first_label)

    story = [Paragraph(title, styles["Title"])]
    for block in blocks:
        if block.startswith("## "):
            story.append(Paragraph(block[3:], styles["Heading2"]))
            continue
        block = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", block.lstrip("> "))
        block = block.replace("making <b>public policy</b>.", "making <b>public pol-<br/>icy</b>.", 1)
        block = block.replace("called a nation-state", "called a nation-<br/>state", 1)
        story.append(Paragraph(block, styles["BodyText"]))
    Chapter(str(path), pagesize=letter, title="ch01.indd", author="OpenStax").build(
        story, onFirstPage=running_lines, onLaterPages=running_lines
    )
    return path


def make_scanned_pdf(path: Path) -> Path:
    """Two pages that are only images, as a scanner makes them."""
    from PIL import Image
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen.canvas import Canvas

    canvas = Canvas(str(path))
    for shade in (200, 230):
        canvas.drawImage(ImageReader(Image.new("L", (85, 110), shade)), 0, 0, 595, 842)
        canvas.showPage()
    canvas.save()
    return path


def make_bomb_pdf(path: Path, inflated: int = 60_000_000) -> Path:
    """A one-page PDF whose 60 KB content stream inflates past the reader's decompression limit."""
    data = zlib.compress(b"BT /F1 12 Tf 72 720 Td (Hello) Tj ET\n" + b" " * inflated, 9)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(data) + data + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path.write_bytes(bytes(out))
    return path


FOOTNOTES = {
    1: "Isaac Newton, Philosophiæ Naturalis Principia Mathematica (London, 1687).",
    2: "Karl Popper, The Logic of Scientific Discovery (London: Hutchinson, 1959).",
}


def _add_footnotes(document, notes: dict[int, str]) -> None:  # type: ignore[no-untyped-def]
    """Give a python-docx document a word/footnotes.xml part (python-docx cannot write footnotes itself)."""
    from docx.opc.constants import CONTENT_TYPE, RELATIONSHIP_TYPE
    from docx.opc.packuri import PackURI
    from docx.opc.part import Part

    w = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    body = "".join(
        f'<w:footnote w:id="{n}"><w:p><w:r><w:footnoteRef/></w:r><w:r><w:t xml:space="preserve"> {text}</w:t></w:r>'
        f"</w:p></w:footnote>"
        for n, text in notes.items()
    )
    xml = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:footnotes {w}>'
        '<w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:footnote>'
        '<w:footnote w:type="continuationSeparator" w:id="0"><w:p><w:r><w:continuationSeparator/></w:r></w:p>'
        f"</w:footnote>{body}</w:footnotes>"
    )
    part = Part(PackURI("/word/footnotes.xml"), CONTENT_TYPE.WML_FOOTNOTES, xml.encode(), document.part.package)
    document.part.relate_to(part, RELATIONSHIP_TYPE.FOOTNOTES)


def _footnote_ref(paragraph, note_id: int) -> None:  # type: ignore[no-untyped-def]
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    run = OxmlElement("w:r")
    ref = OxmlElement("w:footnoteReference")
    ref.set(qn("w:id"), str(note_id))
    run.append(ref)
    paragraph._p.append(run)


def make_docx(path: Path) -> Path:
    """m00004 as a course handout: Title, Heading 1/2 sections, a table, and two footnotes."""
    import docx

    title, blocks = md_blocks("m00004.md")
    document = docx.Document()
    document.core_properties.author = "Course Team"
    document.add_paragraph(title, style="Title")
    for block in blocks:
        text = re.sub(r"\*\*(.+?)\*\*", r"\1", block.lstrip("> "))
        if text.startswith("So science does not require"):
            document.add_heading("The Scientific Method", level=1)
        if text.startswith("A hypothesis is a tentative"):
            document.add_heading("Hypotheses", level=2)
        if text.startswith("## "):
            document.add_heading(text[3:], level=1)
            continue
        if "Newton’s second law" in text:
            head, tail = text.split("Not precisely", 1)
            p = document.add_paragraph(head.rstrip())
            _footnote_ref(p, 1)
            p.add_run(" Not precisely" + tail)
            continue
        p = document.add_paragraph(text)
        if text.startswith("A hypothesis is a tentative"):
            _footnote_ref(p, 2)
    table = document.add_table(rows=2, cols=2)
    rows = [
        ("Deterministic", "If this happens, that will happen."),
        ("Probabilistic", "If this happens, that is likely."),
    ]
    for row, cells in zip(table.rows, rows, strict=True):
        row.cells[0].text, row.cells[1].text = cells
    _add_footnotes(document, FOOTNOTES)
    document.save(str(path))
    return path
