"""Browser tests: the app served in this process, driven by Debian's headless Chromium through Playwright.

`make test` installs Chromium (apt-get) when /usr/bin/chromium is missing; Playwright's own browser download is never
used. Screenshots go to a temp folder, or to docs/screenshots with UPDATE_SCREENSHOTS=1 (`make screenshots`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from atlas_qa.config import Settings

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM") or "/usr/bin/chromium"  # the Makefile exports it
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOTS = ROOT / "docs" / "screenshots" if os.environ.get("UPDATE_SCREENSHOTS") == "1" else None


@contextmanager
def serving(atlas: Any, settings: Settings) -> Iterator[str]:
    """The app over `atlas`, served as `serve` serves it (uvicorn) but on a free port; yields its URL ("http://…/")."""
    from atlas_qa.server import create_app

    from ..live import running

    with running(create_app(settings, atlas)) as base:
        yield base + "/"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser tab (a new app session); dialogs are recorded and dismissed, never left open."""
    context = browser.new_context(viewport={"width": 1440, "height": 960}, accept_downloads=True)
    tab = context.new_page()
    tab.dialogs = []  # type: ignore[attr-defined]

    def on_dialog(dialog: Any) -> None:
        tab.dialogs.append(dialog.message)  # type: ignore[attr-defined]
        dialog.dismiss()

    tab.on("dialog", on_dialog)
    tab.set_default_timeout(20_000)
    from playwright.sync_api import expect

    expect.set_options(timeout=20_000)  # assertions wait as long as actions do: a loaded machine is slow, not wrong
    tab.bring_to_front()  # the active tab: focus checks fail ("inactive") in a tab the browser does not focus
    yield tab
    context.close()


@pytest.fixture
def shoot(tmp_path: Path) -> Any:
    """shoot(page or locator, "name"): a PNG in docs/screenshots (UPDATE_SCREENSHOTS=1) or in the test's temp dir."""
    folder = SCREENSHOTS or tmp_path

    def take(target: Any, name: str, **kwargs: Any) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.png"
        target.screenshot(path=str(path), **kwargs)
        return path

    return take


@contextmanager
def serving_copy(corpus: Path, root: Path, model_cache: Path) -> Iterator[tuple[str, Settings]]:
    """The real model over a copy of `corpus` (in root/corpus) indexed in root/index, served."""
    from atlas_qa.core import Atlas

    shutil.copytree(corpus, root / "corpus")
    settings = Settings(index_dir=root / "index", corpus=root / "corpus", cache_dir=model_cache)
    atlas = Atlas(settings)
    atlas.ingest()
    with serving(atlas, settings) as url:
        yield url, settings


@contextmanager
def serving_users(
    corpus: Path, root: Path, model_cache: Path, users: dict[str, str]
) -> Iterator[tuple[str, Settings, Any]]:
    """The real model over a copy of `corpus` with accounts (name -> role, password "<name>-password", all in the
    course), served: (URL, settings, the UserStore)."""
    from atlas_qa.core import Atlas
    from atlas_qa.users import UserStore

    shutil.copytree(corpus, root / "corpus")
    settings = Settings(index_dir=root / "index", corpus=root / "corpus", cache_dir=model_cache)
    store = UserStore(settings.users_db, rounds=4)
    for name, role in users.items():
        store.add(name, role, [settings.course], f"{name}-password")
    atlas = Atlas(settings)
    atlas.ingest()
    with serving(atlas, settings) as url:
        yield url, settings, store


@pytest.fixture(scope="module")
def shipped_app(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> Iterator[tuple[str, Settings]]:
    """The real model over a copy of the shipped corpus/ in a temp index, served."""
    with serving_copy(ROOT / "corpus", tmp_path_factory.mktemp("shipped"), model_cache) as served:
        yield served


def post_ask(base: str, data: Any) -> tuple[int, str]:
    """POST a call of the `ask` API as any HTTP client does (lone surrogates escaped in the JSON):
    (200, event id) or (status, the refusal's sentence)."""
    body = json.dumps({"data": data}).encode()
    req = urllib.request.Request(f"{base}/gradio_api/call/ask", data=body, headers={"Content-Type": "application/json"})
    try:
        return 200, str(json.loads(urllib.request.urlopen(req, timeout=120).read())["event_id"])
    except urllib.error.HTTPError as exc:
        return exc.code, str(json.loads(exc.read())["error"])


def ask_result(base: str, event_id: str) -> tuple[str, Any]:
    """The call's final event: ("complete", [item]) or ("error", raw line)."""
    event = ""
    with urllib.request.urlopen(f"{base}/gradio_api/call/ask/{event_id}", timeout=300) as stream:
        for raw in stream:
            line = raw.decode().strip()
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                return event, json.loads(line[5:])
    raise AssertionError("the event stream ended without a result")


def one_click_download(page, control: str) -> tuple[str, str]:
    """Click `control` (a selector) once; the file that downloads: (its name, its text)."""
    with page.expect_download(timeout=10_000) as download:
        page.locator(control).click()
    path = download.value.path()
    return download.value.suggested_filename, Path(path).read_text(encoding="utf-8")


def choose(page: Any, dropdown: str, option: str) -> None:
    """Pick the option whose label has `option` in the Gradio dropdown `dropdown` (a CSS selector) and wait until the
    field shows it. The app's load event re-renders parts of the page, on a loaded machine while the list is open
    ("element was detached from the DOM"): the list is opened and the option clicked again until the choice holds."""
    from playwright.sync_api import Error, expect

    field = page.locator(f"{dropdown} input")
    shown = re.compile(re.escape(option))
    for _ in range(5):
        try:
            field.click(timeout=10_000)
            page.get_by_role("option", name=option).click(timeout=10_000)
            expect(field).to_have_value(shown, timeout=5_000)
            return
        except (Error, AssertionError):
            continue  # the list was re-rendered under the click: open it again
    expect(field).to_have_value(shown)
