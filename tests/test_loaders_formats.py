"""HTML, PDF and Word loaders: each yields the same structured Document the .txt and .md loaders do."""

from __future__ import annotations

import re
import shutil
import sys
import zlib
from pathlib import Path

import pytest

from atlas_qa.attribution import cites_in_span
from atlas_qa.chunking import chunk_document
from atlas_qa.config import PACKAGED_MODEL, Settings
from atlas_qa.errors import LoadError
from atlas_qa.loaders import concept, html, load_corpus, pdf
from atlas_qa.loaders import docx as docx_loader
from atlas_qa.spans import paragraph_spans
from tests.embedder import HASH

from .conftest import BORINS_QUESTION, DATA, SEED

FORMATS = DATA / "formats"
SAVED_PAGE = FORMATS / "digital-technology-and-service-delivery.html"
PAGE_RE = re.compile(r"(?:^|> )p\. \d+$")


def _norm(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()


def _md_blocks(name: str) -> tuple[str, list[str]]:
    """(title, blocks) of a polisci Markdown page: front matter, footnotes and emphasis removed."""
    text = (DATA / "polisci" / name).read_text(encoding="utf-8").split("---", 2)[2]
    text = re.sub(r"^\[\^\d+\]:.*$", "", text, flags=re.M)
    text = re.sub(r"\[\^\d+\]", "", text)
    blocks = [b.strip() for b in re.split(r"\n\s*\n", text) if b.strip()]
    return blocks[0].lstrip("# "), blocks[1:]


# ---------------------------------------------------------------- fixture builders (reportlab, python-docx)


def make_pdf(path: Path, outline: bool = True, first_label: int = 12) -> Path:
    """m00003 as a printed book chapter: running header and page-number footer, printed pages from `first_label`,
    headings in a larger font (and as bookmarks when `outline`), two words hyphenated at a line end."""
    from reportlab.lib.pagesizes import letter
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate

    title, blocks = _md_blocks("m00003.md")
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

    title, blocks = _md_blocks("m00004.md")
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


@pytest.fixture(scope="module")
def pdf_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_pdf(tmp_path_factory.mktemp("pdf") / "public-policy.pdf")


@pytest.fixture(scope="module")
def pdf_doc(pdf_file: Path):  # type: ignore[no-untyped-def]
    return pdf.parse_file(pdf_file, "public-policy.pdf", str(pdf_file))


@pytest.fixture(scope="module")
def docx_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_docx(tmp_path_factory.mktemp("docx") / "scientific-study.docx")


# ---------------------------------------------------------------- HTML


def _seed():  # type: ignore[no-untyped-def]
    return concept.parse(SEED.read_text(encoding="utf-8"), SEED.name, str(SEED))


def _saved_page():  # type: ignore[no-untyped-def]
    return html.parse(SAVED_PAGE.read_text(encoding="utf-8"), SAVED_PAGE.name, str(SAVED_PAGE))


def test_saved_web_page_has_the_structure_of_the_txt_page():
    doc, txt = _saved_page(), _seed()
    assert doc.format == "html"
    assert doc.title == txt.title == "Digital technology and service delivery"
    assert [(q.speaker, q.pages) for q in doc.quotations] == [(q.speaker, q.pages) for q in txt.quotations]
    pal, borins = doc.quotations
    assert pal.start < borins.start < borins.end < pal.end  # Borins quoted inside Pal's words
    assert doc.text[borins.start : borins.end] == txt.text[txt.quotations[1].start : txt.quotations[1].end]
    assert doc.text[pal.start :].startswith("“What has stimulated new thinking")
    assert doc.text[: pal.end].endswith("wider constituencies of stakeholders.”")
    assert [(r.authors, r.year, r.text) for r in doc.references] == [
        (r.authors, r.year, r.text) for r in txt.references
    ]
    for key in ("course", "subject", "topic", "author", "date", "see_also", "description", "image"):
        assert doc.metadata[key] == txt.metadata[key], key
    assert [s.path for s in doc.sections] == [s.path for s in txt.sections]
    # The same attribution code reads the HTML page: the Borins sentence cites Borins (2007) from the list.
    cites = cites_in_span(doc, borins.start, borins.end)
    assert [c.label for c in cites] == ["Borins, 2007, p. 16"] and cites[0].reference.startswith("Borins, S. (2007)")


def test_saved_web_page_drops_navigation_comments_scripts_and_styles():
    doc = _saved_page()
    leaks = (
        "LEAK",
        "Skip to content",
        "Atlas of Public Management",
        "Recent concepts",
        "Share this",
        "Twitter",
        "Post navigation",
        "Deliverology",
        "Leave a Reply",
        "Post Comment",
        "Search for",
        "powered by",
        "_wpemojiSettings",
        "document.write",
        "STYLE text",
        "clip: rect",
        "schema.org",
    )
    for leak in leaks:
        assert leak not in doc.text, leak
    assert not re.search(r"\bEdit\b", doc.text)  # the hidden edit link
    assert doc.text.startswith("… a core concept in Implementation and Delivery and Atlas107\n\nConcept description")
    assert doc.text.rstrip().endswith("accessed 6 April 2017.")


def test_saved_web_page_keeps_links_to_other_concepts_as_see_also():
    doc = _saved_page()
    # Only the article's own link: not the sidebar's, the menu's, the share buttons' or the topic/course tags.
    assert doc.metadata["see_also_urls"] == "https://atlas101.ca/pm/concepts/new-public-management/"
    assert doc.metadata["see_also"] == "New Public Management"
    assert doc.metadata["source_url"] == "https://atlas101.ca/pm/concepts/digital-technology-and-service-delivery/"


def test_blockquote_without_quote_marks_is_quoted_and_attributed():
    page = """<html><head><title>Policy windows | Course site</title><script>var x = "LEAK";</script></head><body>
      <header><nav><a href="/">Home</a></nav><p>Site banner LEAK</p></header>
      <div class="entry-content"><h2>Concept description</h2><p>Kingdon on agenda setting.</p>
      <p>Kingdon writes (p. 165):</p>
      <blockquote><p>Policy windows open infrequently,
      and do not stay open long.</p><p>Advocates must be <q>ready to pounce</q>.</p></blockquote>
      <style>p { color: red }</style>
      <h2>Atlas topic, subject, and course</h2><p>Agenda Setting (core topic) in Policy Process and Atlas101</p>
      <p>Kingdon, J. W. (1984). Agendas, alternatives, and public policies. Boston: Little, Brown.</p></div>
      <footer>Copyright LEAK</footer></body></html>"""
    doc = html.parse(page, "policy-windows.html", "x")
    (q,) = doc.quotations
    assert (q.speaker, q.pages) == ("Kingdon", "165")
    assert doc.text[q.start : q.end] == (
        "“Policy windows open infrequently, and do not stay open long.”\n\n“Advocates must be “ready to pounce”.”"
    )
    assert doc.title == "Policy windows"  # no <h1>: the <title> without the site's name
    assert doc.metadata["course"] == "Atlas101" and doc.references[0].year == "1984"
    assert "LEAK" not in doc.text and "color" not in doc.text


def test_plain_web_page_gets_heading_sections_and_survives_deep_nesting():
    page = (
        "<html><body><main><h1>Budgets</h1><p>Intro.</p><h2>Estimates</h2><p>Main estimates.</p>"
        "<h3>Supply</h3><p>Supply bills.</p><h2>Audit</h2>"
        "<table><tr><th>Office</th><td>Auditor General</td></tr></table>"
        + "<div>" * 5000
        + "deep text"
        + "</div>" * 5000
        + "</main></body></html>"
    )
    doc = html.parse(page, "budgets.html", "x")
    assert doc.title == "Budgets"
    assert [s.path for s in doc.sections] == ["Estimates", "Estimates > Supply", "Audit"]
    audit = doc.sections[-1]
    assert "Office | Auditor General" in doc.text[audit.start : audit.end]
    assert "deep text" in doc.text


# ---------------------------------------------------------------- PDF


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

    printed = [_norm(page.extract_text()) for page in pypdf.PdfReader(pdf_file).pages]
    for section, label in zip(doc.sections, labels, strict=True):
        words = _norm(doc.text[section.start : section.end])
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
    text = _norm(doc.text)
    assert "Introduction to Political Science" not in doc.text  # running header, on every page
    paras = [_norm(doc.text[a:b]) for a, b in paragraph_spans(doc.text)]
    assert not [p for p in paras if re.fullmatch(r"\d+", p)]  # page-number footers
    assert "making public policy." in text and "pol-" not in text  # hyphenation repaired
    assert "sometimes called a nation-state." in text  # a real compound keeps its hyphen
    # Every paragraph of the source is in the PDF's text, in order; one that fits on a page is a paragraph of its own.
    _, blocks = _md_blocks("m00003.md")
    pos = 0
    for block in blocks:
        plain = _norm(re.sub(r"\*\*(.+?)\*\*", r"\1", block.lstrip("#> ")))
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
    monkeypatch.setattr(pdf, "_command", lambda path: [sys.executable, "-c", "import time; time.sleep(30)"])
    with pytest.raises(LoadError, match="longer than 0.5 s"):
        pdf.parse_file(bomb, "bomb.pdf", str(bomb), timeout=0.5)


# ---------------------------------------------------------------- DOCX


def test_docx_headings_paragraphs_and_footnotes(docx_file: Path):
    doc = docx_loader.parse_file(docx_file, "scientific-study.docx", str(docx_file))
    assert doc.format == "docx"
    assert doc.title == "Political Science: The Systematic Study of Politics"
    assert doc.metadata["author"] == "Course Team"
    assert [s.path for s in doc.sections] == [
        "The Scientific Method",
        "The Scientific Method > Hypotheses",
        "Summary",
    ]
    hyp = doc.sections[1]
    assert doc.text[hyp.start :].startswith("Hypotheses\n\nA hypothesis is a tentative statement")
    assert doc.text.startswith("The systematic study of the process of who gets what")  # the Title is not body text
    assert [(r.key, r.text) for r in doc.references] == [("^1", FOOTNOTES[1]), ("^2", FOOTNOTES[2])]
    marker = doc.text.index("[^1]")
    assert doc.text[:marker].endswith("opposite reaction”)?")
    cites = cites_in_span(doc, marker - 40, marker + 4)
    assert [(c.label, c.reference) for c in cites] == [("[^1]", FOOTNOTES[1])]
    assert "Deterministic | If this happens, that will happen." in doc.text
    chunks = chunk_document(doc, max_tokens=120)
    assert {c.section for c in chunks} >= {"", "The Scientific Method > Hypotheses", "Summary"}


def test_docx_damaged_or_bomb_is_skipped(tmp_path: Path):
    (tmp_path / "broken.docx").write_bytes(b"PK\x03\x04 not a zip")
    import zipfile

    with zipfile.ZipFile(tmp_path / "notword.docx", "w") as z:
        z.writestr("hello.txt", "hi")
    result = load_corpus([tmp_path])
    reasons = {Path(s.path).name: s.reason for s in result.skipped}
    assert "damaged" in reasons["broken.docx"]
    assert "not a Word document" in reasons["notword.docx"]
    assert result.by_format == {"docx": {"loaded": 0, "skipped": 2}}


# ---------------------------------------------------------------- corpus


def test_load_corpus_reports_each_format(tmp_path: Path, pdf_file: Path, docx_file: Path):
    shutil.copy(SEED, tmp_path / SEED.name)
    (tmp_path / "empty.txt").write_text("")
    shutil.copy(DATA / "polisci" / "m00002.md", tmp_path / "m00002.md")
    shutil.copy(SAVED_PAGE, tmp_path / "saved.htm")
    shutil.copy(pdf_file, tmp_path / "chapter.pdf")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    shutil.copy(docx_file, tmp_path / "handout.docx")
    (tmp_path / "photo.png").write_bytes(b"\x89PNG")
    result = load_corpus([tmp_path])
    assert result.by_format == {
        "txt": {"loaded": 1, "skipped": 1},
        "md": {"loaded": 1, "skipped": 0},
        "html": {"loaded": 1, "skipped": 0},
        "pdf": {"loaded": 1, "skipped": 1},
        "docx": {"loaded": 1, "skipped": 0},
        "other": {"loaded": 0, "skipped": 1},
    }
    assert {d.format for d in result.documents} == {"concept", "markdown", "html", "pdf", "docx"}
    assert len(result.skipped) == 3 and result.roots == [tmp_path.resolve()]


@pytest.mark.parametrize(
    ("model", "refuse_below"),
    [("hash-64", 0.0), pytest.param(PACKAGED_MODEL, Settings.refuse_below, marks=pytest.mark.e2e, id="real-model")],
)
def test_mixed_corpus_is_indexed_and_cited(  # type: ignore[no-untyped-def]
    tmp_path: Path, pdf_file: Path, docx_file: Path, model: str, refuse_below: float, model_cache: Path
):
    from atlas_qa.core import Atlas

    corpus = tmp_path / "course"
    corpus.mkdir()
    (corpus / "notes.txt").write_text("Street-level bureaucracy\n\nFront-line workers shape policy as delivered.\n")
    shutil.copy(DATA / "polisci" / "m00002.md", corpus / "m00002.md")
    shutil.copy(SAVED_PAGE, corpus / SAVED_PAGE.name)
    shutil.copy(pdf_file, corpus / "public-policy.pdf")
    shutil.copy(docx_file, corpus / "scientific-study.docx")

    settings = Settings(index_dir=tmp_path / "index", model=model, embedder=HASH, refuse_below=refuse_below, cache_dir=model_cache)
    atlas = Atlas(settings)
    report = atlas.ingest([corpus])
    assert not report.skipped
    assert set(atlas.index.page_ids) == {
        "notes.txt",
        "m00002",
        SAVED_PAGE.name,
        "public-policy.pdf",
        "scientific-study.docx",
    }

    answer = atlas.ask("What is the highest form of power called?")
    assert not answer.refused and "sovereign power" in answer.answer
    cited = next(c for c in answer.citations if c.page_id == "public-policy.pdf")
    assert PAGE_RE.search(cited.section), cited.section
    pdf_doc = atlas.index.document("public-policy.pdf")
    page = next(s for s in pdf_doc.sections if s.path == cited.section and s.start <= cited.start < s.end)
    assert "The highest form of power is called sovereign power" in pdf_doc.text[page.start : page.end]

    answer = atlas.ask(BORINS_QUESTION)
    assert not answer.refused
    top = answer.citations[0]
    assert (top.page_id, top.speaker) == (SAVED_PAGE.name, "Pal")
    assert top.chain == "Borins (2007, p. 16), quoted in Pal (2014, pp. 213-214)"
