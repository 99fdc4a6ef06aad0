"""Word documents (loaders/docx.py): headings, paragraphs, tables and footnotes; damaged files."""

from __future__ import annotations

from pathlib import Path

from atlas_qa.attribution import cites_in_span
from atlas_qa.chunking import chunk_document
from atlas_qa.loaders import docx as docx_loader
from atlas_qa.loaders import load_corpus

from .builders import FOOTNOTES


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
