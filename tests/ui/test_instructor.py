"""The instructor's corpus view and examples (ui/instructor.py)."""

from pathlib import Path

from atlas_qa.types import Document
from atlas_qa.ui import Views
from tests.conftest import BORINS_QUESTION


def test_corpus_view_lists_pages_and_the_files_that_failed_to_load(hash_atlas, corpus):
    (corpus / "broken.md").write_text("---\ntitle: [unclosed\n---\nBody", encoding="utf-8")
    seen = []
    views = Views(hash_atlas)
    status = views.reindex(lambda done, total: seen.append((done, total)))
    assert "Re-indexed:" in status and "1 failed to load" in status
    summary = views.corpus_summary()
    assert "broken.md" in summary and "malformed YAML front matter" in summary and "aq-tile-bad" in summary
    rows = views.corpus_rows()
    assert any(r[2] == "atlas107/digital-technology-and-service-delivery.txt" and r[3] > 0 for r in rows)
    assert ["What Is Politics and What Is Political Science?"] == [r[1] for r in rows if r[2] == "m00002"]
    assert all(not Path(r[5]).is_absolute() for r in rows)  # the server's paths stay private
    (corpus / "polisci" / "m00002.md").write_text((corpus / "polisci" / "m00002.md").read_text() + "\nMore.\n")
    views.reindex(lambda done, total: seen.append((done, total)))
    assert seen and seen[-1][0] == seen[-1][1] > 0


def test_examples_come_from_the_indexed_pages(hash_atlas):
    examples = Views(hash_atlas).examples()
    assert BORINS_QUESTION in examples and len(examples) <= 4


def test_examples_use_key_terms_and_never_a_title_many_pages_share():
    from atlas_qa.examples import example_questions

    intro = [Document(f"p{i}", "Introduction", "Text.", "s", "md") for i in range(16)]
    termed = Document("t", "Introduction", "Text.", "s", "md", key_terms=("public policy", "power"))
    titled = Document("u", "Federalism in Canada", "Text.", "s", "md")
    generic = Document("v", "Summary", "Text.", "s", "md")
    found = example_questions(
        [*intro, termed, titled, generic, Document("w", "Power", "T.", "s", "md", key_terms=("power",))]
    )
    assert found == ["What is public policy?", "What does the course say about Federalism in Canada?", "What is power?"]
    assert not any("Introduction" in q or "Summary" in q for q in found)
