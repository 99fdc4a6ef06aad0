"""Course material cannot run code in the browser, and Gradio's file routes serve no file of the corpus or machine."""

from __future__ import annotations

import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from atlas_qa.config import Settings
from tests.embedder import HASH

from .conftest import ROOT, choose, serving
from .test_app import ask, open_tab

pytestmark = pytest.mark.e2e

HOSTILE_PAGE = """---
title: "Course logistics <img src=x onerror=alert('title') id=injected-title>"
course: "Atlas107 <b id=injected-course>x</b>"
page_id: hostile
---

# Submitting assignments <script>alert('heading')</script>

Assignments are submitted through the course portal before the deadline each Friday. <script>alert('xss')</script> Late assignments lose ten percent per day <img src=x onerror="alert('img')" id="injected-img"> unless an extension was granted.

The portal help page is [here](javascript:alert('link')) and also <a href="javascript:alert('a')" id="injected-link">this link</a>, while templates print ${alert('tpl')} and {{constructor.constructor('alert(1)')()}} as text.

Extensions are granted for documented illness <iframe src="javascript:alert('iframe')" id="injected-iframe"></iframe> or family emergencies <svg onload="alert('svg')" id="injected-svg"></svg> by the course office (Smith, 2020, p. 5).

## References

Smith, J. (2020). Course policies <svg onload=alert('ref') id=injected-ref></svg>. University Press.
"""
INJECTED = (
    "#injected-title, #injected-course, #injected-img, #injected-link, #injected-iframe, #injected-svg, #injected-ref"
)


@pytest.fixture(scope="module")
def hostile_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Settings]]:
    """The hostile page beside the seed page (hash embedder: this is about rendering, not retrieval), served."""
    from atlas_qa.core import Atlas

    root = tmp_path_factory.mktemp("hostile")
    (root / "corpus").mkdir()
    (root / "corpus" / "hostile.md").write_text(HOSTILE_PAGE, encoding="utf-8")
    shutil.copytree(ROOT / "corpus" / "atlas107", root / "corpus" / "atlas107")
    settings = Settings(
        index_dir=root / "index", corpus=root / "corpus", model="hash-64", embedder=HASH, refuse_below=0.0
    )
    atlas = Atlas(settings)
    atlas.ingest()
    with serving(atlas, settings) as url:
        yield url, settings


def test_html_and_script_in_course_material_never_run(hostile_app, page, shoot):
    url, _ = hostile_app
    page.goto(url)
    ask(page, "When are assignments submitted through the course portal, and what about late assignments?", 0)
    reply = page.locator("#aq-chat [data-testid=bot]").first
    expect(reply).to_contain_text("Assignments are submitted through the course portal")
    sources = page.locator("#aq-sources")
    expect(sources).to_contain_text("<script>alert('xss')</script>")  # shown as text
    expect(sources).to_contain_text("Course logistics <img src=x onerror=alert('title') id=injected-title>")

    hostile = sources.locator(".aq-card", has_text="Course logistics").first
    hostile.locator("button.aq-open").click()
    expect(page.locator("#aq-page .aq-pageview")).to_contain_text("${alert('tpl')}")
    expect(page.locator("#aq-page .aq-pageview")).to_contain_text("{{constructor.constructor('alert(1)')()}}")

    reply.hover()
    page.locator("#aq-chat button[aria-label=Like]").last.click()
    expect(page.locator("#aq-comment textarea")).to_be_visible()

    open_tab(page, "Attribution")
    expect(page.locator("#aq-attr-table")).to_contain_text("Course logistics")
    choose(page, "#aq-page-pick", "Course logistics")
    expect(page.locator("#aq-parse")).to_contain_text("<svg onload=alert('ref') id=injected-ref></svg>")
    open_tab(page, "Corpus")
    expect(page.locator("#aq-corpus-table")).to_contain_text("Course logistics <img")
    open_tab(page, "Feedback")
    expect(page.locator("#aq-feedback-table")).to_contain_text("Assignments are submitted")
    open_tab(page, "Ask")
    shoot(page, "safety")

    # A control element of the hostile shape, added by the test: once its handler has run, any injected handler of
    # that shape would have run too (no fixed wait). It ran; no dialog opened.
    page.evaluate("""() => document.body.insertAdjacentHTML('beforeend',
        '<img src="x-control" onerror="window.__aqControl = true" style="display:none">')""")
    page.wait_for_function("() => window.__aqControl === true")
    assert page.dialogs == []
    assert page.locator(INJECTED).count() == 0
    # Gradio's own config script carries initial values as JSON data, with every "<" written as \u003c.
    assert page.evaluate("""() => ({
        scripts: [...document.scripts].filter(s => s.textContent.includes('alert(') && !(
            s.textContent.startsWith('window.gradio_config = ') && !s.textContent.includes('<'))).length,
        frames: document.querySelectorAll('iframe').length,
        jsLinks: [...document.querySelectorAll('a[href]')].filter(a => /^\\s*javascript:/i.test(a.getAttribute('href'))).length,
        handlers: [...document.querySelectorAll('*')].filter(e => [...e.attributes].some(
            a => /^on/i.test(a.name) && /alert/.test(a.value))).length,
    })""") == {"scripts": 0, "frames": 0, "jsLinks": 0, "handlers": 0}


def _status(url: str) -> int:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_file_routes_serve_neither_the_corpus_nor_the_index_nor_the_machine(hostile_app):
    url, settings = hostile_app
    corpus_file = (Path(settings.corpus) / "hostile.md").resolve()
    index_files = [p.resolve() for p in Path(settings.index_dir).rglob("*") if p.is_file()]
    assert corpus_file.exists() and index_files
    private = [
        corpus_file,
        *index_files[:5],
        Path("/etc/passwd"),
        ROOT / "README.md",
        ROOT / "src" / "atlas_qa" / "ui" / "app.py",
        Path(settings.index_dir).resolve() / "questions.sqlite3",  # the question log (ratings included)
    ]
    assert _status(f"{url}gradio_api/info") == 200  # the server answers; only the files are refused
    for path in private:
        for route in ("gradio_api/file=", "file=", "gradio_api/file/", "file/"):
            for form in (str(path), urllib.parse.quote(str(path))):
                status = _status(f"{url}{route}{form}")
                assert status in (400, 403, 404), f"{route}{form} answered {status}"
    traversal = urllib.parse.quote("../../../../../../etc/passwd", safe="")
    assert _status(f"{url}gradio_api/file={traversal}") in (400, 403, 404)
