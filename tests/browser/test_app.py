"""Students and instructors use the app in Chromium: the real model on the shipped corpus."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from ..conftest import BORINS_QUESTION
from .conftest import choose, one_click_download

pytestmark = pytest.mark.e2e

FOLLOW_UP = "What did he say about integrated service delivery?"  # "he": Borins, whom the first answer quotes


def ask(page, question: str, turn: int) -> None:
    """Type a question, send it, and wait until answer number `turn` (from 0) has finished streaming."""
    page.locator("#aq-box textarea").fill(question)
    page.locator("#aq-box textarea").press("Enter")
    reply = page.locator("#aq-chat [data-testid=bot]").nth(turn)
    expect(reply).not_to_contain_text("Searching the course material")
    expect(reply.locator(".aq-caret")).to_have_count(0)
    expect(page.locator("#aq-sources .aq-sources")).to_have_attribute("data-turn", str(turn))


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name, exact=True).click()


def test_ask_click_a_marker_follow_up_and_rate(shipped_app, page, shoot):
    url, _ = shipped_app
    page.goto(url)
    expect(page.locator("#aq-chat")).to_contain_text("Ask about the course")
    shoot(page, "empty")

    ask(page, BORINS_QUESTION, 0)
    first = page.locator("#aq-chat [data-testid=bot]").nth(0)
    expect(first).to_contain_text("According to Borins")
    marker = first.locator("a.aq-cite").first
    expect(marker).to_have_text("[1]")
    marker.click()
    card = page.locator("#aq-sources #src-0-1")
    expect(card).to_be_visible()
    expect(card).to_have_class(re.compile("aq-flash"))
    expect(card.locator(".aq-who")).to_contain_text("Pal")
    expect(card.locator(".aq-who")).to_contain_text("Borins (2007, p. 16), quoted in Pal (2014, pp. 213-214)")
    expect(card.locator(".aq-works")).to_contain_text("Borins, S. (2007). Conceptual framework.")
    expect(card.locator("blockquote mark").first).to_contain_text("consolidates many common functions")
    shoot(page, "chat")

    ask(page, FOLLOW_UP, 1)
    second = page.locator("#aq-chat [data-testid=bot]").nth(1)
    expect(second).to_contain_text("integrated service delivery")
    expect(second.locator(".aq-meta")).to_contain_text("What did Borins say about integrated service delivery?")
    # The passage that says it is among the sources, its span marked, and the answer cites it by its number.
    cited = page.locator("#aq-sources .aq-card", has=page.locator("mark", has_text="integrated service delivery")).first
    expect(cited).to_be_visible()
    number = (cited.get_attribute("id") or "").rsplit("-", 1)[-1]
    expect(second.locator("a.aq-cite", has_text=f"[{number}]").first).to_be_visible()
    shoot(page, "follow-up")

    # A marker of the earlier answer brings that answer's sources back, its card in focus.
    first.locator("a.aq-cite").first.click()
    expect(page.locator("#aq-sources .aq-sources")).to_have_attribute("data-turn", "0")
    expect(page.locator("#aq-sources #src-0-1")).to_have_class(re.compile("aq-focus"))

    # "Open page": the whole page, the quoted span marked.
    page.locator("#aq-sources #src-0-1 button.aq-open").click()
    pageview = page.locator("#aq-page .aq-pageview")
    expect(pageview).to_be_visible()
    expect(pageview).to_contain_text("See also: New Public Management.")
    expect(pageview.locator("mark").first).to_contain_text("consolidates many common functions")
    page.wait_for_function(  # the panel scrolled the mark into its visible part
        """() => { const pv = document.querySelector('#aq-page .aq-pageview'), m = pv.querySelector('mark');
                   const a = pv.getBoundingClientRect(), b = m.getBoundingClientRect();
                   return pv.scrollTop > 0 && b.top >= a.top && b.bottom <= a.bottom; }"""
    )
    shoot(page, "page")

    # Feedback on the follow-up's answer, with a comment; the instructor finds it in the Feedback tab.
    second.hover()
    page.locator("#aq-chat button[aria-label=Like]").last.click()
    expect(page.locator("#aq-comment textarea")).to_be_visible()
    expect(page.locator("#aq-feedback-note")).to_contain_text("answer 2 saved as helpful")
    page.locator("#aq-comment textarea").fill("Clear, and the Borins reference is right there.")
    page.locator("#aq-comment-send").click()
    expect(page.locator("#aq-feedback-note")).to_contain_text("Comment saved for answer 2")

    open_tab(page, "Feedback")
    table = page.locator("#aq-feedback-table")
    expect(table).to_contain_text(FOLLOW_UP)
    expect(table).to_contain_text("Clear, and the Borins reference is right there.")
    expect(table).to_contain_text("✓ helpful")
    expect(page.locator("#aq-feedback-summary")).to_contain_text("100%")
    name, text = one_click_download(page, "#aq-fb-csv")
    assert name == "feedback.csv" and FOLLOW_UP in text
    shoot(page, "feedback")
    assert page.dialogs == []


def test_attribution_view_traces_spans_and_exports(shipped_app, page, shoot):
    url, _ = shipped_app
    page.goto(url)
    ask(page, BORINS_QUESTION, 0)
    open_tab(page, "Attribution")
    table = page.locator("#aq-attr-table")
    expect(table).to_contain_text("Borins, 2007, p. 16")
    expect(table).to_contain_text("Borins, S. (2007). Conceptual framework.")
    expect(table).to_contain_text("Borins (2007, p. 16), quoted in Pal (2014, pp. 213-214)")
    expect(table).to_contain_text("pp. 213-214")
    parse = page.locator("#aq-parse")
    expect(parse).to_contain_text("Quotations 2")
    expect(parse.locator(".aq-tag.q1")).to_contain_text("Borins, p. 16")
    expect(parse.locator(".aq-tag.q0")).to_contain_text("Pal, pp. 213-214")
    shoot(page, "attribution")
    shoot(parse, "parse")

    name, text = one_click_download(page, "#aq-attr-csv")
    assert name == "attribution-1.csv" and text.startswith("n,cited span,speaker,page locator")
    assert "Borins, 2007, p. 16" in text

    name, text = one_click_download(page, "#aq-parse-json")
    assert re.fullmatch(r"parse-.*\.json", name) and '"speaker": "Borins"' in text


def test_corpus_view_and_reindex(shipped_app, page, shoot):
    url, _ = shipped_app
    page.goto(url)
    open_tab(page, "Corpus")
    summary = page.locator("#aq-corpus-summary")
    expect(summary).to_contain_text("Pages")
    expect(summary).to_contain_text("Every file of the last ingest loaded.")
    expect(page.locator("#aq-corpus-table")).to_contain_text("Digital technology and service delivery")
    page.locator("#aq-reindex").click()
    expect(page.locator("#aq-reindex-status")).to_contain_text("Re-indexed: 0 added, 0 updated, 0 removed, 1 unchanged")
    page.mouse.move(0, 0)
    page.wait_for_timeout(800)  # let the progress overlay fade before the screenshot
    shoot(page, "corpus")


def test_refusals_look_different_and_clear_starts_over(shipped_app, page, shoot):
    url, _ = shipped_app
    page.goto(url)
    ask(page, "What is the boiling point of mercury in kelvin?", 0)
    reply = page.locator("#aq-chat [data-testid=bot]").first
    expect(reply.locator(".aq-refusal")).to_contain_text("Not covered by the course material")
    expect(reply.locator(".aq-closest")).to_contain_text("Digital technology and service delivery")
    expect(reply.locator("a.aq-cite")).to_have_count(0)
    expect(page.locator("#aq-sources .aq-refusal-panel")).to_be_visible()
    shoot(page, "refusal")

    page.locator("#aq-clear").click()
    expect(page.locator("#aq-chat [data-testid=bot]")).to_have_count(0)
    expect(page.locator("#aq-sources")).to_contain_text("Sources appear here")


def test_filters_come_from_the_pages_metadata(shipped_app, page):
    url, _ = shipped_app
    page.goto(url)
    expect(page.locator("#aq-filter-course")).to_be_visible()
    expect(page.locator("#aq-filter-chapter")).to_be_hidden()  # no page of the shipped corpus has a chapter
    choose(page, "#aq-filter-course", "Atlas107")
    ask(page, BORINS_QUESTION, 0)
    expect(page.locator("#aq-chat [data-testid=bot]").first.locator(".aq-meta")).to_contain_text(
        "Filtered to course = Atlas107"
    )


def test_example_questions_are_asked_at_a_click(shipped_app, page):
    url, _ = shipped_app
    page.goto(url)
    page.locator("#aq-examples button", has_text="consolidate functions").click()
    reply = page.locator("#aq-chat [data-testid=bot]").first
    expect(reply.locator("a.aq-cite").first).to_be_visible()
    expect(reply).to_contain_text("According to Borins")
    open_tab(page, "Attribution")
    expect(page.locator("#aq-attr-table")).to_contain_text("Borins, 2007, p. 16")
