"""What a student and an instructor trip over in the browser (issue 25): page titles, contrast under the pointer and
the focus, empty questions, who is signed in, the API page, one-click exports and the phone's first screen. With
accounts, over the shipped corpus and the polisci excerpt (the hash embedder: this is about the views, not answers)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from atlas_qa.config import Settings
from atlas_qa.users import UserStore
from tests.embedder import HASH

from ..conftest import BORINS_QUESTION, DATA
from .conftest import ROOT, one_click_download, serving
from .test_accessibility import REPORT, violations
from .test_app import ask, open_tab

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def school(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app for the course "default", served, with a student (sam), an instructor (prof) and a student of another
    course (olga); each one's password is NAME-password."""
    from atlas_qa.core import Atlas

    root = tmp_path_factory.mktemp("everyday")
    shutil.copytree(ROOT / "corpus", root / "corpus")
    shutil.copytree(DATA / "polisci", root / "corpus" / "polisci")
    settings = Settings(
        index_dir=root / "index", corpus=root / "corpus", model="hash-64", embedder=HASH, refuse_below=0.0
    )
    store = UserStore(settings.users_db, rounds=4)
    store.add("sam", "student", [settings.course], "sam-password")
    store.add("prof", "instructor", [settings.course], "prof-password")
    store.add("olga", "student", ["other"], "olga-password")
    atlas = Atlas(settings)
    atlas.ingest()
    with serving(atlas, settings) as url:
        yield url


def sign_in(page, url: str, name: str) -> None:
    """Sign in on the sign-in page as NAME (password NAME-password) and wait for the page it leads to."""
    page.goto(url)
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(f"{name}-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page).not_to_have_url(f"{url}login")


def test_open_page_shows_the_pages_title(school, page):
    sign_in(page, school, "sam")
    ask(page, BORINS_QUESTION, 0)
    card = page.locator("#aq-sources .aq-card").first
    title = card.locator(".aq-title").inner_text()
    card.locator("button.aq-open").click()
    view = page.locator("#aq-page .aq-pageview")
    expect(view.locator(".aq-page-head .aq-title")).to_have_text(title)
    assert "esc(" not in view.inner_text()


CONTROLS = "button:visible, a[href]:visible, [role=tab]:visible, textarea:visible, input:visible"


def contrast(target) -> list[str]:
    """axe-core's colour-contrast findings inside one element (a locator), once its transitions have ended."""
    return target.evaluate(
        "async (el) => { const moving = [el, el.parentElement].flatMap(e => e.getAnimations({subtree: true}));"
        "await Promise.all(moving.filter(a => a.effect.getTiming().iterations !== Infinity).map(a => a.finished));"
        f"return ({REPORT})(await axe.run(el, {{runOnly: {{type: 'rule', values: ['color-contrast']}}}})); }}"
    )


def under_pointer_and_focus(page, view: str) -> dict[str, list[str]]:
    """The view's axe violations as it is, then each control's contrast under the pointer and with the focus
    (the controls a user can reach: on screen once scrolled to, not covered by another element)."""
    found = {view: violations(page)}
    controls = page.locator(CONTROLS)
    for i in range(controls.count()):
        control = controls.nth(i)
        control.scroll_into_view_if_needed()
        reachable = control.evaluate(
            """e => { const r = e.getBoundingClientRect(); if (!r.width || !r.height) return false;
                const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
                return !!hit && (e === hit || e.contains(hit)); }"""
        )
        if not reachable:
            continue
        name = control.evaluate("e => e.id || e.getAttribute('aria-label') || e.textContent.trim().slice(0, 30)")
        control.hover()
        found[f"{view}: hover {name}"] = contrast(control)
        page.mouse.move(0, 0)
        control.focus()
        found[f"{view}: focus {name}"] = contrast(control)
    return {state: v for state, v in found.items() if v}


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_view_passes_axe_with_its_controls_under_the_pointer_and_the_focus(school, page, scheme):
    page.emulate_media(color_scheme=scheme)
    page.goto(school)
    seen = {"sign-in": violations(page)}
    sign_in(page, school, "prof")
    expect(page.get_by_role("tab", name="Insight", exact=True)).to_be_visible()
    seen |= under_pointer_and_focus(page, "ask (empty)")
    ask(page, BORINS_QUESTION, 0)
    seen |= under_pointer_and_focus(page, "ask (answered)")
    page.locator("#aq-sources button.aq-open").first.click()
    expect(page.locator("#aq-page .aq-pageview")).to_be_visible()
    seen |= under_pointer_and_focus(page, "page view")
    for tab, ready in (
        ("Attribution", "#aq-attr-table .aq-n"),
        ("Corpus", "#aq-corpus-table"),
        ("Feedback", "#aq-feedback-table"),
        ("Insight", "#aq-insight-numbers .aq-tile"),
    ):
        open_tab(page, tab)
        expect(page.locator(ready).first).to_be_visible()
        seen |= under_pointer_and_focus(page, tab)
    bad = {view: found for view, found in seen.items() if found}
    assert not bad, "\n".join(f"{view}: {found}" for view, found in bad.items())


def test_an_empty_question_is_said_beside_the_chat_not_as_a_message_to_rate(school, page):
    sign_in(page, school, "sam")
    page.locator("#aq-send").click()
    notice = page.locator("#aq-sources [role=alert]")
    expect(notice).to_have_text("Please type a question.")
    ask(page, BORINS_QUESTION, 0)
    expect(notice).to_have_count(0)
    page.locator("#aq-box textarea").fill("  ?! ")
    page.locator("#aq-send").click()
    expect(notice).to_have_text("The question has no words in it.")
    expect(page.locator("#aq-sources .aq-card").first).to_be_visible()  # the last answer's sources stay
    expect(page.locator("#aq-chat [data-testid=user]")).to_have_count(1)
    expect(page.locator("#aq-chat [data-testid=bot]")).to_have_count(1)
    expect(page.locator("#aq-chat button[aria-label=Like]")).to_have_count(1)


def test_the_page_says_who_is_signed_in_and_signs_out(school, page):
    sign_in(page, school, "sam")
    who = page.locator("#aq-user")
    expect(who).to_contain_text("Signed in as sam")
    who.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{school}login")
    page.goto(school)
    expect(page).to_have_url(f"{school}login")  # the session ended on the server


def test_a_user_of_another_course_is_told_which_course_this_app_serves_and_can_sign_out(school, page):
    sign_in(page, school, "olga")
    expect(page.get_by_role("heading")).to_have_text("Not your course")
    expect(page.locator("main")).to_contain_text("This app serves the course default")
    expect(page.locator("main")).to_contain_text("Your courses: other")
    assert violations(page) == []
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{school}login")


def test_gradios_api_page_is_gone_and_the_header_points_to_the_rest_api(school, page):
    sign_in(page, school, "sam")
    expect(page.locator("#aq-chat")).to_be_visible()
    expect(page.locator("footer")).not_to_contain_text("API")
    page.goto(f"{school}?view=api")
    expect(page.locator("#aq-chat")).to_be_visible()
    expect(page.get_by_text("Client(")).to_have_count(0)
    expect(page.get_by_text("API Recorder")).to_have_count(0)
    docs = page.locator("#aq-header").get_by_role("link", name="API")
    expect(docs).to_have_attribute("href", "/api/v1/docs")
    docs.click()
    expect(page).to_have_url(f"{school}api/v1/docs")


def test_every_export_downloads_at_one_click(school, page):
    sign_in(page, school, "prof")
    ask(page, BORINS_QUESTION, 0)
    page.locator("#aq-chat [data-testid=bot]").first.hover()
    page.locator("#aq-chat button[aria-label=Like]").first.click()
    expect(page.locator("#aq-feedback-note")).to_contain_text("saved as helpful")
    open_tab(page, "Attribution")
    expect(page.locator("#aq-attr-table .aq-n").first).to_be_visible()
    name, text = one_click_download(page, "#aq-attr-csv")
    assert name == "attribution-1.csv" and text.startswith("n,cited span,speaker")
    name, text = one_click_download(page, "#aq-attr-json")
    assert name == "attribution-1.json" and json.loads(text)["question"] == BORINS_QUESTION
    expect(page.locator("#aq-parse .aq-page-text")).to_be_visible()
    name, text = one_click_download(page, "#aq-parse-json")
    assert name.startswith("parse-") and name.endswith(".json") and '"page_id"' in text
    open_tab(page, "Feedback")
    expect(page.locator("#aq-feedback-summary")).not_to_be_empty()
    for fmt in ("csv", "json"):
        name, text = one_click_download(page, f"#aq-fb-{fmt}")
        assert name == f"feedback.{fmt}" and BORINS_QUESTION[:40] in text
    open_tab(page, "Insight")
    expect(page.locator("#aq-insight-numbers .aq-tile").first).to_be_visible()
    name, text = one_click_download(page, "#aq-insight-pages-csv")
    assert name == "insight-pages.csv" and text.startswith("page_id,")


def test_on_a_phone_the_question_box_is_on_the_first_screen(school, browser, shoot):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    phone = context.new_page()
    try:
        sign_in(phone, school, "sam")
        box = phone.locator("#aq-box textarea")
        expect(box).to_be_focused(timeout=30_000)
        expect(phone.locator("#aq-user")).to_contain_text("Sign out")
        assert phone.evaluate("window.scrollY") == 0
        expect(box).to_be_in_viewport(ratio=1)
        expect(phone.locator("#aq-header")).to_be_in_viewport()
        shoot(phone, "phone-student")
    finally:
        context.close()
