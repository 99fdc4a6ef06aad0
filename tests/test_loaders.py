from pathlib import Path

import pytest

from atlas_qa.errors import LoadError
from atlas_qa.loaders import concept, load_corpus, markdown, read_text

from .conftest import DATA, SEED


def seed_doc():
    return concept.parse(
        SEED.read_text(encoding="utf-8"), "atlas107/digital-technology-and-service-delivery.txt", str(SEED)
    )


def test_concept_page_parts():
    doc = seed_doc()
    assert doc.title == "Digital technology and service delivery"
    assert doc.metadata["course"] == "Atlas107"
    assert doc.metadata["subject"] == "Implementation and Delivery"
    assert doc.metadata["topic"] == "Promoting Innovation and Driving Change (core topic)"
    assert doc.metadata["author"] == "Ian Clark"
    assert doc.metadata["date"] == "12 April 2017"
    assert doc.metadata["see_also"] == "New Public Management"
    assert [r.authors[-1] for r in doc.references] == ["Pal", "Borins", "Dunleavy", "Fountain", "Williams"]
    assert [r.year for r in doc.references] == ["2014", "2007", "2005", "2001", "2006"]


def test_concept_quotations_and_nesting():
    doc = seed_doc()
    pal, borins = doc.quotations
    assert (pal.speaker, pal.pages) == ("Pal", "213-214")
    assert doc.text[pal.start :].startswith("“What has stimulated new thinking")
    assert doc.text[: pal.end].endswith("wider constituencies of stakeholders.”")
    assert (borins.speaker, borins.pages) == ("Borins", "16")
    assert pal.start < borins.start < borins.end < pal.end
    assert doc.text[borins.start :].startswith("“The most significant change")
    assert doc.text[: borins.end].endswith("(Borins, 2007, p. 16)")


def test_hash_like_file_name_gets_title_from_description():
    doc = concept.parse(SEED.read_text(encoding="utf-8"), "000_e598dc106ca25eb1.txt", "x")
    assert "digital technology" in doc.title.lower()
    assert "e598dc" not in doc.title


def test_markdown_front_matter_sections_and_footnotes():
    path = DATA / "polisci" / "m00002.md"
    doc = markdown.parse(path.read_text(encoding="utf-8"), "polisci/m00002.md", str(path))
    assert doc.page_id == "m00002"
    assert doc.title.startswith("Defining Politics")
    assert doc.metadata["chapter"] == "What Is Politics and What Is Political Science?"
    assert "---" not in doc.text.splitlines()[0]
    assert "[^1]:" not in doc.text  # definitions become references, markers stay in the text
    assert "[^1]" in doc.text
    assert doc.references[0].key == "^1" and "Aristotle" in doc.references[0].text
    rules = next(s for s in doc.sections if s.path == "Rules")
    assert doc.text[rules.start :].startswith("## Rules")


def test_markdown_nested_headings_make_a_path():
    text = "---\ntitle: T\n---\n# T\n\n## A\n\ntext a\n\n### B\n\ntext b\n\n## C\n\ntext c\n"
    doc = markdown.parse(text, "t.md", "t.md")
    assert [s.path for s in doc.sections] == ["A", "A > B", "C"]
    assert doc.page_id == "t.md"


def test_plain_text_and_markdown_without_structure_load(tmp_path: Path):
    (tmp_path / "notes.txt").write_text("Street-level bureaucracy\n\nFront-line workers shape policy as delivered.\n")
    (tmp_path / "plain.md").write_text("Just a paragraph about implementation gaps.\n")
    result = load_corpus([tmp_path])
    docs = {d.page_id: d for d in result.documents}
    assert docs["notes.txt"].title == "Street-level bureaucracy"
    assert docs["plain.md"].title == "plain"
    assert not result.skipped


def test_bad_files_are_skipped_with_reasons(tmp_path: Path):
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "binary.txt").write_bytes(b"\x00\x01\x02abc")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    (tmp_path / "bad.md").write_text("---\ntitle: [unclosed\n---\nbody\n")
    (tmp_path / "good.txt").write_text("A good page about delivery.\n")
    result = load_corpus([tmp_path])
    reasons = {Path(s.path).name: s.reason for s in result.skipped}
    assert [d.page_id for d in result.documents] == ["good.txt"]
    assert reasons["empty.txt"] == "empty file"
    assert "binary" in reasons["binary.txt"]
    assert "unsupported" in reasons["image.png"]
    assert "front matter" in reasons["bad.md"]


def test_non_utf8_text_is_decoded(tmp_path: Path):
    (tmp_path / "cp.txt").write_bytes("Café policy – “quoted”".encode("cp1252"))
    (tmp_path / "u16.txt").write_bytes("Ünïcode page".encode("utf-16"))
    assert read_text(tmp_path / "cp.txt") == "Café policy – “quoted”"
    assert read_text(tmp_path / "u16.txt") == "Ünïcode page"


def test_missing_path_is_a_clear_error(tmp_path: Path):
    with pytest.raises(LoadError, match="does not exist"):
        load_corpus([tmp_path / "nope"])
