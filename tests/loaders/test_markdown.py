"""Markdown pages with front matter and footnotes (loaders/markdown.py)."""

from __future__ import annotations

from atlas_qa.loaders import markdown

from ..conftest import DATA


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


def test_a_reference_list_section_resolves_the_pages_author_year_citations():
    """A book's "## References" or "## Bibliography" section: its entries become the page's references, so that
    "(Sahn, 2013)" resolves to the full entry, and they are the reference list (never a citation or an answer)."""
    from atlas_qa.parsed import page_parse

    text = (
        "---\ntitle: Culture\n---\n# Culture\n\n## What Is Culture?\n\n"
        "The error of treating an abstract concept as real is known as reification (Sahn, 2013). "
        "Elias called it a process (Elias 1978).\n\n"
        "## Bibliography\n\n"
        "Elias, N. (1978). What Is Sociology? New York: Columbia University Press.\n\n"
        "- Sahn, R. (2013). The dangers of reification. The Contexts Blog.\n\n"
        "Further titles are listed on the course site.\n"
    )
    doc = markdown.parse(text, "culture.md", "culture.md")
    assert [(r.authors, r.year) for r in doc.references] == [(("Elias",), "1978"), (("Sahn",), "2013")]
    assert doc.references[1].text.startswith("Sahn, R. (2013). The dangers")  # the list item's marker left out
    parse = page_parse(doc)
    assert [(c.label, c.reference.split(".")[0]) for c in parse.citations] == [
        ("Sahn, 2013", "Sahn, R"),
        ("Elias, 1978", "Elias, N"),
    ]
    assert parse.unresolved == 0
    ((start, end),) = doc.reference_spans
    assert doc.text[start:end].startswith("## Bibliography") and doc.text[start:end].rstrip().endswith("course site.")
