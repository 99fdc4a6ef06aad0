"""The OpenAPI document is a contract: schemathesis (`st run --checks all`) fuzzes every `/api/v1` operation against
the running app, as anonymous, a student, an instructor and an admin: no 5xx, and every status and body is one the
document states (the hash embedder: this is about HTTP, not answers)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from atlas_qa.config import Settings
from atlas_qa.core import Atlas
from atlas_qa.server import create_app
from atlas_qa.users import UserStore
from tests.embedder import HASH

from .conftest import DATA
from .live import call, running

pytestmark = pytest.mark.slow
ST = Path(sys.executable).with_name("st")
ROLES = ("anonymous", "student", "instructor", "admin")
# The one documented refusal of a schema-valid request: `until` before `since` (422 with a sentence); a document
# cannot state that one field must follow another.
CONFIG = """
[[operations]]
include-path = "/api/v1/insights"
checks.positive_data_acceptance.enabled = false
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("contract")
    shutil.copytree(DATA / "polisci", root / "corpus")
    settings = Settings(
        index_dir=root / "index", corpus=root / "corpus", model="hash-64", embedder=HASH, users_db=root / "users.db"
    )
    atlas = Atlas(settings)
    atlas.ingest()
    store = UserStore(settings.users_db, rounds=4)
    store.add("student", "student", [settings.course], "student-password")
    store.add("instructor", "instructor", [settings.course], "instructor-password")
    store.add("admin", "admin", [], "admin-password")
    tokens = {name: store.new_token(name) for name in ROLES[1:]}
    with running(create_app(settings, atlas)) as base:
        yield {"base": base, "tokens": tokens, "admin": {"Authorization": f"Bearer {tokens['admin']}"}}


@pytest.mark.skipif(not ST.exists(), reason="schemathesis is not installed (pip install -e '.[test]')")
@pytest.mark.parametrize("role", ROLES)
def test_every_operation_keeps_the_documented_contract(served, role, tmp_path):
    schema = tmp_path / "openapi.json"  # read as an admin: the document itself needs a signed-in reader
    schema.write_bytes(call(f"{served['base']}/api/v1/openapi.json", headers=served["admin"]).body)
    auth = ["-H", f"Authorization: Bearer {served['tokens'][role]}"] if role != "anonymous" else []
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG, encoding="utf-8")
    command = [str(ST), "--no-color", "--config-file", str(config), "run", str(schema), "--url", served["base"]]
    command += ["--checks", "all"]
    command += ["--seed", "1", "--workers", "1", "--max-examples", "30", "--generation-database", "none", *auth]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    summary = [line for line in done.stdout.splitlines() if "generated" in line]
    assert done.returncode == 0, done.stdout[-6000:]
    assert summary and "0 unique failure" not in summary[-1] and "passed" in summary[-1], summary
