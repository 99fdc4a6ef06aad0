"""Loading a corpus (loaders/__init__.py): every format, bad files skipped with reasons, indexed and cited."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from atlas_qa.config import PACKAGED_MODEL, Settings
from atlas_qa.errors import LoadError
from atlas_qa.loaders import load_corpus, read_text
from tests.embedder import HASH

from ..conftest import BORINS_QUESTION, DATA, SEED
from .builders import PAGE_RE, SAVED_PAGE


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

    settings = Settings(
        index_dir=tmp_path / "index", model=model, embedder=HASH, refuse_below=refuse_below, cache_dir=model_cache
    )
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
