"""PDF files (loaders/pdf.py, pdf_sandbox.py): printed page numbers, headings, clean text, hostile files."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from atlas_qa.chunking import chunk_document
from atlas_qa.errors import LoadError
from atlas_qa.loaders import load_corpus, pdf, pdf_sandbox
from atlas_qa.spans import paragraph_spans

from .builders import PAGE_RE, make_bomb_pdf, make_pdf, make_scanned_pdf, md_blocks, norm


def test_pdf_pages_carry_their_printed_numbers(pdf_doc, pdf_file: Path):  # type: ignore[no-untyped-def]
    doc = pdf_doc
    assert doc.format == "pdf"
    assert doc.title == "Public Policy, Public Interest, and Power"  # the title heading, not "ch01.indd"
    assert doc.metadata["first_page"] == "12" and int(doc.metadata["last_page"]) >= 15
    assert all(PAGE_RE.search(s.path) for s in doc.sections)
    labels = [re.search(r"p\. (\d+)$", s.path).group(1) for s in doc.sections]  # type: ignore[union-attr]
    assert labels == sorted(labels, key=int) and labels[0] == "12" and labels[-1] == doc.metadata["last_page"]
    first = doc.sections[0]
    assert doc.text[first.start :].startswith("Public Policy, Public Interest, and Power\n\nPublic policy is one of")
    # Checked against pypdf's own reading of each page: a section's text is printed on the page its path names.
    import pypdf

    printed = [norm(page.extract_text()) for page in pypdf.PdfReader(pdf_file).pages]
    for section, label in zip(doc.sections, labels, strict=True):
        words = norm(doc.text[section.start : section.end])
        assert words[:50] in printed[int(label) - 12] and words[-50:] in printed[int(label) - 12], section.path
    chunks = chunk_document(doc, max_tokens=120)
    assert chunks and all(PAGE_RE.search(c.section) for c in chunks)
    # Every chunk's text lies within the page its section names.
    for c in chunks:
        section = next(s for s in doc.sections if s.path == c.section and s.start <= c.start < s.end)
        assert c.end <= section.end


@pytest.mark.parametrize("outline", [True, False], ids=["bookmarks", "font-size"])
def test_pdf_headings_from_bookmarks_or_font_size(tmp_path: Path, outline: bool):
    path = make_pdf(tmp_path / "chapter.pdf", outline=outline)
    doc = pdf.parse_file(path, "chapter.pdf", str(path))
    trails = list(dict.fromkeys(s.path.rpartition(" > ")[0] for s in doc.sections))
    assert trails == ["", "Government and the Legitimate Use of Power", "Conflict and Bargaining", "Summary"]
    summary = next(s for s in doc.sections if s.path.startswith("Summary"))
    assert doc.text[summary.start :].startswith("Summary\n\nPublic policy—all the actions")


def test_pdf_text_is_clean_and_complete(pdf_doc):  # type: ignore[no-untyped-def]
    doc = pdf_doc
    text = norm(doc.text)
    assert "Introduction to Political Science" not in doc.text  # running header, on every page
    paras = [norm(doc.text[a:b]) for a, b in paragraph_spans(doc.text)]
    assert not [p for p in paras if re.fullmatch(r"\d+", p)]  # page-number footers
    assert "making public policy." in text and "pol-" not in text  # hyphenation repaired
    assert "sometimes called a nation-state." in text  # a real compound keeps its hyphen
    # Every paragraph of the source is in the PDF's text, in order; one that fits on a page is a paragraph of its own.
    _, blocks = md_blocks("m00003.md")
    pos = 0
    for block in blocks:
        plain = norm(re.sub(r"\*\*(.+?)\*\*", r"\1", block.lstrip("#> ")))
        head = plain[:60]
        found = text.find(head, pos)
        assert found >= 0, head
        pos = found
    assert "Public policy is one of the main products of politics. Public policy includes all the decisions" in paras[1]
    assert paras[1].endswith("they are all making public policy.")


def test_pdf_layout_rules_on_extracted_lines():
    """Running lines go, paragraphs follow the leading, a word split across a page break is mended, labels are kept."""

    def page(label: str, body: list[tuple[str, float]]) -> dict:  # type: ignore[type-arg]
        lines = [["Journal of Public Things, vol. 3", 780.0, 8.0]] + [[t, y, 10.0] for t, y in body]
        return {"label": label, "lines": lines + [[label, 30.0, 8.0]]}

    data = {
        "pages": [
            page(
                "iv",
                [
                    ("Delivery units track targets across depart-", 700.0),
                    ("ments every week.", 688.0),
                    ("A second paragraph ends with the gov-", 670.0),
                ],
            ),
            page("v", [("ernment, which then changes its mind.", 700.0), ("New paragraph here.", 682.0)]),
            {"label": "vi", "lines": []},
        ],
        "outline": [],
        "meta": {"title": "Microsoft Word - draft.docx", "author": "A. Author"},
    }
    doc = pdf.build(data, "notes/delivery.pdf", "x")
    assert doc.title == "delivery"  # a word processor's file name is no title
    assert doc.text == (
        "Delivery units track targets across departments every week.\n\n"
        "A second paragraph ends with the government,\n\n"
        "which then changes its mind.\n\nNew paragraph here.\n"
    )
    assert [s.path for s in doc.sections] == ["p. iv", "p. v"]
    assert doc.metadata["pages_without_text"] == "vi" and doc.metadata["author"] == "A. Author"


def test_pdf_without_text_layer_is_skipped_with_reason(tmp_path: Path):
    make_scanned_pdf(tmp_path / "scan.pdf")
    result = load_corpus([tmp_path])
    assert not result.documents
    (skip,) = result.skipped
    assert "no text layer" in skip.reason and "OCR" in skip.reason
    assert result.by_format == {"pdf": {"loaded": 0, "skipped": 1}}


def test_hostile_pdfs_are_skipped_not_hanging(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    bomb = make_bomb_pdf(tmp_path / "bomb.pdf")
    with pytest.raises(LoadError, match="safety limit"):
        pdf.parse_file(bomb, "bomb.pdf", str(bomb))
    from reportlab.pdfgen.canvas import Canvas

    locked = Canvas(str(tmp_path / "locked.pdf"), encrypt="secret")
    locked.drawString(72, 720, "Confidential course notes that need a password to open.")
    locked.save()
    with pytest.raises(LoadError, match="encrypted PDF"):
        pdf.parse_file(tmp_path / "locked.pdf", "locked.pdf", "x")
    (tmp_path / "fake.pdf").write_bytes(b"%PDF-1.4\nnot really a pdf\n")
    with pytest.raises(LoadError, match="unreadable PDF|no text layer"):
        pdf.parse_file(tmp_path / "fake.pdf", "fake.pdf", "x")
    # A reader that never returns is stopped at the time limit.
    monkeypatch.setattr(
        pdf_sandbox, "child_command", lambda path: [sys.executable, "-c", "import time; time.sleep(30)"]
    )
    with pytest.raises(LoadError, match="longer than 0.5 s"):
        pdf.parse_file(bomb, "bomb.pdf", str(bomb), timeout=0.5)
