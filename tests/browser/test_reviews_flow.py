"""Reviewed answers in Chromium (issue #24's "done when"), the real model on a copy of the shipped corpus: a student
rates an answer down; the instructor opens that question from Insight, composes an answer from two course sentences
and a note; another student asking a paraphrase gets it, labelled, with its sources and the usual answer one
keyboard press away; a near-miss gets the usual answer; once the cited page is edited and re-indexed the reviewed
answer is no longer given and is listed as needing review, until the instructor confirms it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from ..conftest import ROOT
from ..live import call
from .conftest import serving_users
from .test_accessibility import violations
from .test_app import ask, open_tab
from .test_everyday import under_pointer_and_focus
from .test_roles import sign_in

pytestmark = pytest.mark.e2e

QUESTION = "How has digital technology changed public service delivery?"
PARAPHRASE = "In what ways has digital technology transformed how public services are delivered?"  # matches (measured)
NEAR_MISS = "Why has digital technology not changed public service delivery?"  # does not
NOTE = "Section 2 of this page is the one to read before the quiz."


@pytest.fixture(scope="module")
def reviewed_app(tmp_path_factory: pytest.TempPathFactory, model_cache) -> Iterator[dict[str, Any]]:
    users = {"ana": "student", "ben": "student", "prof": "instructor"}
    with serving_users(ROOT / "corpus", tmp_path_factory.mktemp("reviews"), model_cache, users) as served:
        url, settings, store = served
        yield {"url": url, "settings": settings, "prof": {"Authorization": f"Bearer {store.new_token('prof')}"}}


def student(browser: Any, url: str, name: str) -> tuple[Any, Any]:
    context = browser.new_context(viewport={"width": 1440, "height": 960})
    page = context.new_page()
    page.set_default_timeout(30_000)
    sign_in(page, url, name, f"{name}-password")
    return context, page


def ask_anew(page: Any, question: str) -> Any:
    """Clear the conversation, ask `question` alone (no follow-up context), return its reply."""
    if page.locator("#aq-chat [data-testid=bot]").count():
        page.locator("#aq-clear").click()
        expect(page.locator("#aq-chat [data-testid=bot]")).to_have_count(0)
    ask(page, question, 0)
    return page.locator("#aq-chat [data-testid=bot]").nth(0)


def test_an_instructor_reviews_a_rated_down_answer_and_the_next_student_gets_it(reviewed_app, browser, page, shoot):
    url = reviewed_app["url"]

    # A student rates the answer down.
    context, ana = student(browser, url, "ana")
    reply = ask_anew(ana, QUESTION)
    expect(reply.locator(".aq-reviewed")).to_have_count(0)
    reply.hover()
    ana.locator("#aq-chat button[aria-label=Dislike]").last.click()
    expect(ana.locator("#aq-feedback-note")).to_contain_text("answer 1 saved")
    expect(ana.get_by_role("tab", name="Reviews", exact=True)).to_have_count(0)  # students cannot review
    context.close()

    # The instructor opens it from Insight's gaps and composes an answer from two course sentences and a note.
    sign_in(page, url, "prof", "prof-password")
    expect(page.get_by_role("tab", name="Insight", exact=True)).to_be_visible(timeout=30_000)
    open_tab(page, "Insight")
    expect(page.locator("#aq-insight-review-pick input")).to_have_value(QUESTION)
    page.get_by_role("button", name="Review this question").click()
    expect(page.locator("#aq-review-question textarea")).to_have_value(QUESTION)
    found = page.locator("#aq-review-found label").filter(has_not_text="References").locator("input[type=checkbox]")
    expect(found.nth(1)).to_be_visible()
    order = page.locator("#aq-review-order input[type=radio]")
    for n in range(2):
        found.nth(n).check()
        expect(order).to_have_count(n + 1)
    first = page.locator("#aq-review-order label").nth(0).inner_text().split(". ", 1)[1].split(" — ")[0]
    page.locator("#aq-review-order label").nth(1).click()  # the second sentence first: reordered by keyboard
    page.locator("#aq-review-up").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#aq-review-order label").nth(1)).to_contain_text(first[:40])
    page.locator("#aq-review-note textarea").fill(NOTE)
    preview = page.locator("#aq-review-preview")
    expect(preview).to_contain_text(NOTE)
    expect(preview).to_contain_text("[2]")
    assert violations(page) == []
    shoot(page, "review-compose", full_page=True)
    page.get_by_role("button", name="Save the composed answer").click()
    expect(page.locator("#aq-review-status")).to_contain_text("Saved")
    expect(page.locator("#aq-reviews-table")).to_contain_text(QUESTION)
    [review] = call(f"{url}api/v1/reviews", headers=reviewed_app["prof"]).json()
    assert review["kind"] == "composed" and review["note"] == NOTE and len(review["answer"]["citations"]) == 2
    assert review["answer"]["sentences"][1]["text"].startswith(first[:40])

    # Another student asks a paraphrase: the reviewed answer, labelled, with its sources; the usual one a key away.
    context, ben = student(browser, url, "ben")
    reply = ask_anew(ben, PARAPHRASE)
    expect(reply.locator(".aq-reviewed-label")).to_contain_text("Reviewed by your instructor, 20")
    expect(reply.locator(".aq-reviewed-note")).to_contain_text(NOTE)
    expect(reply.locator(".aq-answer")).to_contain_text(first[:40])
    expect(reply.locator(".aq-answer")).not_to_contain_text(NOTE)  # the note is never mixed with course text
    expect(ben.locator("#aq-sources .aq-card")).to_have_count(2)
    usual = reply.locator("details.aq-usual")
    summary = usual.locator("summary")
    expect(summary).to_have_text("Show the usual answer")
    summary.focus()
    ben.keyboard.press("Enter")
    expect(usual).to_have_attribute("open", "")
    expect(usual.locator("p").first).to_be_visible()
    assert violations(ben) == []
    shoot(ben, "reviewed-answer")

    # A near-miss on the same topic gets the usual answer.
    reply = ask_anew(ben, NEAR_MISS)
    expect(reply.locator(".aq-answer, .aq-refusal").first).to_be_visible()
    expect(reply.locator(".aq-reviewed")).to_have_count(0)

    # The cited page is edited and re-indexed: the reviewed answer is no longer given, and needs review.
    cited = reviewed_app["settings"].corpus / review["answer"]["citations"][0]["page_id"]
    cited.write_text(cited.read_text(encoding="utf-8") + "\n\nA paragraph added after the review.\n", encoding="utf-8")
    open_tab(page, "Corpus")
    page.get_by_role("button", name="Re-index the corpus").click()
    expect(page.locator("#aq-reindex-status")).to_contain_text("1 updated", timeout=120_000)
    reply = ask_anew(ben, PARAPHRASE)
    expect(reply.locator(".aq-answer, .aq-refusal").first).to_be_visible()
    expect(reply.locator(".aq-reviewed")).to_have_count(0)
    context.close()

    open_tab(page, "Reviews")
    table = page.locator("#aq-reviews-table")
    expect(table).to_contain_text("needs review")
    expect(table).to_contain_text("changed since the review")
    expect(page.locator("#aq-reviews-pick input")).to_have_value(f"needs review: {QUESTION}")
    assert violations(page) == []
    shoot(page.locator("#aq-reviews-table"), "reviews-needs-review")
    page.get_by_role("button", name="Confirm as it is").click()  # one click: shown again
    expect(page.locator("#aq-review-status")).to_contain_text("Confirmed")
    expect(table).not_to_contain_text("needs review")
    assert under_pointer_and_focus(page, "Reviews") == {}  # every control's contrast under the pointer and the focus
