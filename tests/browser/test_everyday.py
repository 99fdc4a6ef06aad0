"""What a student and an instructor trip over in the browser (issue 25): page titles, contrast under the pointer and
the focus, empty questions, who is signed in, the API page, one-click exports and the phone's first screen. With
accounts, over the shipped corpus and the polisci excerpt (the hash embedder: this is about the views, not answers)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from atlas_qa.config import Settings
from atlas_qa.users import UserStore
from tests.embedder import HASH

from ..conftest import BORINS_QUESTION, DATA
from .conftest import ROOT, serving
from .test_app import ask

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
