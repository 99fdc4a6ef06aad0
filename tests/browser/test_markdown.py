"""Markdown course pages read as text, not markup, in the source cards and the page view (real model, Chromium)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from ..conftest import DATA
from .conftest import serving_copy
from .test_app import ask

pytestmark = pytest.mark.e2e

RAW = ("**", "[^", "## ", "*Figure")


@pytest.fixture(scope="module")
def polisci_app(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> Iterator[str]:
    """The real model over the polisci excerpt (three OpenStax pages in Markdown), served."""
    with serving_copy(DATA / "polisci", tmp_path_factory.mktemp("polisci"), model_cache) as (url, _):
        yield url


def assert_marks_quote_the_answer(page, mark) -> None:
    """The marked span is (the start of) a sentence the answer quotes."""
    expect(mark).not_to_be_empty()
    marked = " ".join(mark.inner_text().split())[:40]
    answer = " ".join(page.locator("#aq-chat .aq-answer").last.inner_text().split())
    assert marked and marked in answer, (marked, answer)


def test_cards_and_page_view_render_bold_headings_and_footnotes(polisci_app, page, shoot):
    page.goto(polisci_app)
    ask(page, "What is a constitution?", 0)
    sources = page.locator("#aq-sources .aq-sources")
    card = sources.locator("#src-0-1")
    expect(card).to_contain_text("Constitution of Monaco")
    # The passage: footnote markers as superscripts, the box title in bold, the quoted span still marked.
    expect(card.locator("blockquote.aq-passage sup.aq-fn").first).to_have_text("7")
    expect(card.locator("blockquote.aq-passage strong").first).to_have_text("What Is a Constitution?")
    assert_marks_quote_the_answer(page, card.locator("blockquote.aq-passage mark").first)
    expect(card.locator(".aq-works .aq-work sup.aq-fn").first).to_have_text("7")  # was "[^7]"
    for raw in RAW:
        expect(sources).not_to_contain_text(raw)
    shoot(page, "markdown-card")

    card.locator("button.aq-open").click()
    view = page.locator("#aq-page .aq-pageview")
    expect(view.locator("h3.aq-md-h", has_text="Rules")).to_be_visible()
    expect(view.locator(".aq-page-text strong", has_text="constitution").first).to_be_visible()
    assert_marks_quote_the_answer(page, view.locator(".aq-page-text mark").first)
    expect(view.locator("p.aq-md-caption").first).to_contain_text("Figure: The de jure speed limit")
    for raw in RAW:
        expect(view).not_to_contain_text(raw)
    shoot(page, "markdown-page")
    # A marker links to its note in the list at the end of the page, and the note back to the marker.
    marker = view.locator('sup.aq-fn a[href="#fn-7"]')
    expect(marker).to_have_text("7")
    note = view.locator("li#fn-7")
    expect(note).to_contain_text("Which Country Has the Shortest Written Constitution")
    expect(note).not_to_be_in_viewport()
    marker.click()
    expect(note).to_be_in_viewport()
    expect(view).to_be_visible()  # following the link stayed in the app
    shoot(page, "markdown-note")
