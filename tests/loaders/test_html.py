"""Saved web pages and plain HTML (loaders/html.py): the same structured Document the .txt loader gives."""

from __future__ import annotations

import re

from atlas_qa.attribution import cites_in_span
from atlas_qa.loaders import concept, html

from ..conftest import SEED
from .builders import SAVED_PAGE


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
