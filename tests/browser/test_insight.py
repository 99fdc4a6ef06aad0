"""Instructor insight in Chromium: two students ask and rate (the real model on the polisci excerpt, real Chroma), then
the instructor's Insight view shows the class's questions, the pages first asked, the missing topic as one gap theme
of both students, and the plot; the same numbers come from `GET /api/v1/insights` over HTTP. A student never sees it."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from atlas_qa.config import Settings
from atlas_qa.users import UserStore

from ..conftest import DATA
from ..live import call
from .conftest import serving
from .test_accessibility import violations
from .test_app import ask, open_tab
from .test_roles import sign_in

pytestmark = pytest.mark.e2e

# The material (tests/data/polisci) says nothing about carbon taxes: one student gets a weak answer and rates it down,
# the other is refused. Two rephrasings, two students: one theme the course should add.
CARBON = (
    "How does a carbon tax reduce greenhouse gas emissions?",
    "Why would a government put a tax on carbon pollution?",
)
ANA = [  # (question, rating): m00002 "Defining Politics" is asked about most
    ("What are de jure and de facto rules?", None),
    ("What did Aristotle say about political animals?", None),
    (CARBON[0], "Dislike"),
    ("How long should I boil an egg for a soft, runny yolk?", None),
]
BEN = [
    ("Who gets what, when and how?", "Like"),
    ("What is the public interest?", None),
    ("What does politics mean to different people?", None),
    (CARBON[1], None),
]
MOST_ASKED = "Defining Politics"
NEVER_ASKED = "Political Science: The Systematic Study of Politics"


@pytest.fixture(scope="module")
def class_app(tmp_path_factory: pytest.TempPathFactory, model_cache) -> Iterator[dict[str, Any]]:
    from atlas_qa.core import Atlas

    root = tmp_path_factory.mktemp("class")
    shutil.copytree(DATA / "polisci", root / "corpus")
    settings = Settings(index_dir=root / "index", corpus=root / "corpus", cache_dir=model_cache)
    store = UserStore(settings.users_db, rounds=4)
    for name, role in (("ana", "student"), ("ben", "student"), ("prof", "instructor")):
        store.add(name, role, [settings.course], f"{name}-password")
    atlas = Atlas(settings)
    atlas.ingest()
    with serving(atlas, settings) as url:
        tokens = {n: {"Authorization": f"Bearer {store.new_token(n)}"} for n in ("ana", "prof")}
        yield {"url": url, "tokens": tokens, "course": settings.course}


def ask_and_rate(browser: Any, url: str, name: str, questions: list[tuple[str, str | None]]) -> None:
    """`name` signs in, asks each question in turn and rates the answers as given; their page has no Insight tab."""
    context = browser.new_context(viewport={"width": 1440, "height": 960})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        sign_in(page, url, name, f"{name}-password")
        for turn, (question, rating) in enumerate(questions):
            ask(page, question, turn)
            if rating:
                page.locator("#aq-chat [data-testid=bot]").nth(turn).hover()
                page.locator(f"#aq-chat button[aria-label={rating}]").last.click()
                expect(page.locator("#aq-feedback-note")).to_contain_text(f"answer {turn + 1} saved")
        expect(page.get_by_role("tab", name="Ask", exact=True)).to_be_visible()
        expect(page.get_by_role("tab", name="Insight", exact=True)).to_have_count(0)
        assert page.locator("#aq-tab-insight, #aq-insight-numbers").count() == 0
    finally:
        context.close()


def rows(page: Any, name: str) -> list[list[str]]:
    """The cells of one insight table as shown (a list cell's items joined by "; ")."""
    return page.evaluate(
        """(name) => [...document.querySelectorAll(`#aq-insight-${name} table tbody tr`)].map(tr =>
            [...tr.children].map(td => td.querySelector('li')
                ? [...td.querySelectorAll('li')].map(li => li.textContent.trim()).join('; ')
                : td.textContent.trim()))""",
        name,
    )


def headers(page: Any, name: str) -> list[str]:
    return page.evaluate(
        "(name) => [...document.querySelectorAll(`#aq-insight-${name} thead th`)].map(th => th.dataset.col)",
        name,
    )


def test_two_students_questions_show_up_as_the_instructors_insight(class_app, browser, page, shoot):
    url = class_app["url"]
    ask_and_rate(browser, url, "ana", ANA)
    ask_and_rate(browser, url, "ben", BEN)

    sign_in(page, url, "prof", "prof-password")
    expect(page.get_by_role("tab", name="Insight", exact=True)).to_be_visible(timeout=30_000)
    open_tab(page, "Insight")
    numbers = page.locator("#aq-insight-numbers")
    expect(numbers).to_contain_text("Questions")
    api = call(f"{url}api/v1/insights?course={class_app['course']}", headers=class_app["tokens"]["prof"])
    assert api.status == 200
    data = api.json()
    assert data["questions"] == len(ANA) + len(BEN) and data["students"] == 2

    # Headline numbers: the API's.
    tiles = dict(
        page.evaluate(
            """() => [...document.querySelectorAll('#aq-insight-numbers .aq-tile')].map(t =>
                [t.querySelector('.aq-tile-name').textContent, t.querySelector('.aq-tile-value').textContent])"""
        )
    )
    assert tiles == {"Questions": str(data["questions"]), "Students": "2", "Refused": str(data["refused"])}
    assert data["refused"] >= 2  # the egg and one carbon question at least

    # Pages: the most asked first, the page nobody asked about last with 0; the API's order and counts.
    pages = rows(page, "pages")
    title, asked = headers(page, "pages").index("title"), headers(page, "pages").index("questions")
    assert pages[0][title].startswith(MOST_ASKED) and pages[-1][title] == NEVER_ASKED and pages[-1][asked] == "0"
    assert [(r[title], int(r[asked])) for r in pages] == [(p["title"], p["questions"]) for p in data["pages"]]

    # Gaps: the carbon tax is ONE theme, asked by both students; no other theme holds a carbon question.
    gap_head = headers(page, "gaps")
    gaps = rows(page, "gaps")
    asked, students = gap_head.index("asked"), gap_head.index("students")
    themes = [r for r in gaps if any(q in r[asked] for q in CARBON)]
    assert len(themes) == 1, gaps
    theme = themes[0]
    assert all(q in theme[asked] for q in CARBON)
    assert theme[students] == "2"
    (api_theme,) = [g for g in data["gaps"] if set(CARBON) <= set(g["questions"])]
    assert api_theme["students"] == 2 and api_theme["label"] == theme[gap_head.index("theme")]
    assert [g["students"] for g in data["gaps"]] == [int(r[students]) for r in gaps]

    # The plot: an SVG drawn with today's questions as a bar.
    plot = page.locator("#aq-insight-plot svg")
    expect(plot.first).to_be_visible()
    bars = page.locator('#aq-insight-plot svg [aria-roledescription="bar"]')
    expect(bars.first).to_be_attached()
    label = bars.last.get_attribute("aria-label") or ""
    assert re.search(rf"Questions: {data['questions']}\b", label), label
    assert bars.last.bounding_box()["height"] > 50  # drawn from 0, not a bar of no height

    # Downloads: the CSV and JSON of the gaps table hold the API's numbers.
    link = page.locator("#aq-insight-gaps-csv")
    expect(link).to_be_visible()
    with page.expect_download() as download:
        link.click()
    table = list(csv.reader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))
    assert table[0] == gap_head and [int(r[students]) for r in table[1:]] == [g["students"] for g in data["gaps"]]
    with page.expect_download() as download:
        page.locator("#aq-insight-pages-json").click()
    items = json.loads(open(download.value.path(), encoding="utf-8").read())
    assert [(i["title"], i["questions"]) for i in items] == [(p["title"], p["questions"]) for p in data["pages"]]

    assert violations(page) == []
    page.mouse.move(0, 0)
    shoot(page, "insight", full_page=True)

    # A student gets neither the numbers nor the view.
    assert call(f"{url}api/v1/insights", headers=class_app["tokens"]["ana"]).status == 403
