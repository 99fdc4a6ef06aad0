"""Students and instructors sign in and see their own views: a student the Ask view only, an instructor also the
Attribution, Corpus, Feedback and Insight views (with accounts; the real model on the shipped corpus)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from atlas_qa.config import Settings
from atlas_qa.users import UserStore

from ..conftest import BORINS_QUESTION
from .conftest import ROOT, serving
from .test_accessibility import violations
from .test_app import ask, open_tab

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def school_app(tmp_path_factory: pytest.TempPathFactory, model_cache) -> Iterator[str]:
    from atlas_qa.core import Atlas

    root = tmp_path_factory.mktemp("school")
    shutil.copytree(ROOT / "corpus", root / "corpus")
    settings = Settings(index_dir=root / "index", corpus=root / "corpus", cache_dir=model_cache)
    store = UserStore(settings.users_db, rounds=4)
    store.add("sam", "student", [settings.course], "sam-password")
    store.add("prof", "instructor", [settings.course], "prof-password")
    atlas = Atlas(settings)
    atlas.ingest()
    with serving(atlas, settings) as url:
        yield url


def sign_in(page, url: str, name: str, password: str) -> None:
    page.goto(url)
    expect(page.get_by_label("User name")).to_be_focused()
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#aq-chat")).to_be_visible(timeout=30_000)


TABS = ["Ask", "Attribution", "Corpus", "Feedback", "Insight"]


def visible_tabs(page) -> list[str]:
    return [t for t in TABS if page.get_by_role("tab", name=t, exact=True).is_visible()]


def test_a_student_sees_the_ask_view_only(school_app, page, shoot):
    page.goto(school_app)
    expect(page).to_have_url(f"{school_app}login")
    assert violations(page) == []
    page.get_by_label("User name").fill("sam")
    page.get_by_label("Password").fill("not-it")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong user name or password.")
    sign_in(page, school_app, "sam", "sam-password")
    ask(page, BORINS_QUESTION, 0)
    page.wait_for_timeout(300)
    assert visible_tabs(page) == ["Ask"]
    assert violations(page) == []
    shoot(page, "student")
    page.goto(f"{school_app}logout")
    expect(page).to_have_url(f"{school_app}login")


def test_an_instructor_also_sees_attribution_corpus_feedback_and_insight(school_app, page, shoot):
    sign_in(page, school_app, "prof", "prof-password")
    expect(page.get_by_role("tab", name="Feedback", exact=True)).to_be_visible(timeout=30_000)
    assert visible_tabs(page) == TABS
    ask(page, BORINS_QUESTION, 0)
    open_tab(page, "Attribution")
    expect(page.locator("#aq-attr-table")).to_contain_text("Borins, 2007, p. 16")
    expect(page.locator("#aq-parse")).to_contain_text("Quotations")
    shoot(page, "instructor")
    open_tab(page, "Corpus")
    expect(page.locator("#aq-corpus-table")).to_contain_text("Digital technology and service delivery")
    open_tab(page, "Insight")
    expect(page.locator("#aq-insight-numbers")).to_contain_text("Questions")
    expect(page.locator("#aq-insight-course input")).to_have_value("default")
