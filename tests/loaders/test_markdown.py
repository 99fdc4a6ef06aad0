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
