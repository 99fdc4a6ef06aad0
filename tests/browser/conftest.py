"""Browser tests: the app served in this process, driven by Debian's headless Chromium through Playwright.

`make test` installs Chromium (apt-get) when /usr/bin/chromium is missing; Playwright's own browser download is never
used. Screenshots go to a temp folder, or to docs/screenshots with UPDATE_SCREENSHOTS=1 (`make screenshots`).
"""

from __future__ import annotations

import os
import shutil
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


@pytest.fixture(scope="module")
def shipped_app(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> Iterator[tuple[str, Settings]]:
    """The real model over a copy of the shipped corpus/ in a temp index, served."""
    from atlas_qa.core import Atlas

    root = tmp_path_factory.mktemp("shipped")
    shutil.copytree(ROOT / "corpus", root / "corpus")
    settings = Settings(index_dir=root / "index", corpus=root / "corpus", cache_dir=model_cache)
    atlas = Atlas(settings)
    atlas.ingest()
    with serving(atlas, settings) as url:
        yield url, settings
