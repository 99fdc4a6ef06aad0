"""The API's docs page renders in the browser with the network cut: Swagger UI comes from the package, not a CDN."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import pytest
from playwright.sync_api import expect

from atlas_qa.config import Settings
from atlas_qa.core import Atlas
from atlas_qa.users import UserStore
from tests.embedder import HASH

from ..conftest import DATA
from ..live import call
from .conftest import serving

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    root = tmp_path_factory.mktemp("docs-page")
    settings = Settings(
        index_dir=root / "index", corpus=DATA / "polisci", model="hash-64", embedder=HASH, users_db=root / "users.db"
    )
    store = UserStore(settings.users_db, rounds=4)
    store.add("dev", "student", [settings.course], "dev-password")
    with serving(Atlas(settings), settings) as url:
        yield url, store.new_token("dev")


def test_the_docs_page_renders_every_operation_with_no_network(served: tuple[str, str], page: Any) -> None:
    url, token = served
    outside: list[str] = []

    def only_the_app(route: Any) -> None:  # the network cut: anything not on the app's own host is refused
        if urlparse(route.request.url).netloc != urlparse(url).netloc:
            outside.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    page.context.set_extra_http_headers({"Authorization": f"Bearer {token}"})
    page.route("**/*", only_the_app)
    page.goto(url + "api/v1/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("atlas-qa API")
    document = call(url + "api/v1/openapi.json", headers={"Authorization": f"Bearer {token}"}).json()
    operations = sum(len(ops) for ops in document["paths"].values())
    assert operations >= 12  # ask, feedback (rate, list), insights, attribution, reindex, me, reviews (5)
    expect(page.locator(".opblock")).to_have_count(operations)  # every operation of the document, rendered
    expect(page.locator(".auth-wrapper .authorize")).to_be_visible()  # the security schemes: bearer, session cookie
    assert outside == []  # nothing was asked of another host: script and styles came from /api/v1/docs/assets
