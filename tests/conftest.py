"""Shared fixtures: every test gets its own index folder; the real model and index are built once per session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from atlas_qa.config import Settings
from tests.embedder import HASH
from tests.live import free_port

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
SEED = ROOT / "corpus" / "atlas107" / "digital-technology-and-service-delivery.txt"
BORINS_QUESTION = "Who argued that IT-enabled government could consolidate functions previously located separately in each department?"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def pytest_configure(config: pytest.Config) -> None:
    """Hypothesis without its per-example deadline (200 ms): on a loaded machine or beside a parallel worker an example
    can take longer, and the test fails as "flaky" with nothing wrong. What must be fast is checked by counting the
    work, not by a clock (`test_a_long_one_line_page_is_split_in_linear_work`)."""
    from hypothesis import settings

    settings.register_profile("atlas-qa", deadline=None)
    settings.load_profile("atlas-qa")


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the ONNX backends keep the exported model: empty at the start of a session, so every run exports it
    from the packaged weights once (as a fresh install does), then all tests share it."""
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="session", autouse=True)
def _own_gradio_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Gradio's file cache (GRADIO_TEMP_DIR; /tmp/gradio, shared by every process, by default) is this test
    process's own: Gradio copies a file to a path named by its content, so a parallel worker (or another program)
    exporting the same content could serve the copy another is still writing. One per process, not per test: an app
    built once for a module checks files against the cache it was built with."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRADIO_TEMP_DIR", str(tmp_path_factory.mktemp("gradio")))
        yield


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, model_cache: Path) -> None:
    """No test sees the user's ATLAS_QA_* settings or writes to the default embeddings/ folder; settings read from
    the environment (the CLI, child processes) use the tests' embedder (`tests/embedder.py`) for `hash-N` models."""
    for key in list(os.environ):
        if key.startswith("ATLAS_QA_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("ATLAS_QA_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("ATLAS_QA_CACHE_DIR", str(model_cache))
    monkeypatch.setenv("ATLAS_QA_EMBEDDER", HASH)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in [str(ROOT), os.environ.get("PYTHONPATH", "")] if p))


@pytest.fixture(autouse=True)
def _cheap_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every bcrypt hash made in a test process costs 2**4 rounds, the app's own stores' and the dummy hash of an
    unknown name included: at the production cost (2**12) a check takes about 0.3 s, and the throttling and sign-in
    tests make dozens. What the cost protects is bcrypt's; what the tests check (which attempts reach the password
    check, sessions, roles) does not depend on it."""
    import bcrypt

    gensalt = bcrypt.gensalt
    monkeypatch.setattr(bcrypt, "gensalt", lambda rounds=12, prefix=b"2b": gensalt(4, prefix))


@pytest.fixture
def no_reader_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    """A slot switch (`--rebuild`, `index import`) in a test that has no reader in another process: the old slot is
    removed at once instead of `READER_GRACE_S` (2 s) later, the time readers elsewhere get to see the switch."""
    from atlas_qa.store import index

    monkeypatch.setattr(index, "READER_GRACE_S", 0.0)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A writable copy of the seed page and the polisci excerpt."""
    root = tmp_path / "corpus"
    (root / "atlas107").mkdir(parents=True)
    shutil.copy(SEED, root / "atlas107" / SEED.name)
    shutil.copytree(DATA / "polisci", root / "polisci")
    return root


@pytest.fixture
def hash_settings(tmp_path: Path) -> Settings:
    """Settings with the tiny deterministic embedder: fast unit tests of the pipeline around the model."""
    return Settings(index_dir=tmp_path / "hash-index", model="hash-64", embedder=HASH, refuse_below=0.0)


def start_chroma(data: Path, log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A real `chroma run` server (from the installed chromadb) on a free loopback port, up and answering."""
    port = free_port()
    chroma = Path(sys.executable).with_name("chroma")
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [str(chroma), "run", "--path", str(data), "--host", "127.0.0.1", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1).read()
            return proc, url
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"chroma run did not start: see {log_path}") from None
            time.sleep(0.2)


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `chroma run` server shared by the session's tests; yields its URL."""
    proc, url = start_chroma(
        tmp_path_factory.mktemp("chroma-data"), tmp_path_factory.mktemp("chroma-log") / "server.log"
    )
    yield url
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="session", params=["embedded", "server"])
def real_atlas(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The real MiniLM model and a real Chroma store (embedded, then a `chroma run` server) over the seed page and
    the polisci excerpt, built once per mode: every end-to-end test runs in both modes."""
    from atlas_qa.core import Atlas

    root = tmp_path_factory.mktemp("real-corpus")
    (root / "atlas107").mkdir()
    shutil.copy(SEED, root / "atlas107" / SEED.name)
    shutil.copytree(DATA / "polisci", root / "polisci")
    url = request.getfixturevalue("chroma_server") if request.param == "server" else ""
    index_dir = tmp_path_factory.mktemp("real-index")
    cache = request.getfixturevalue("model_cache")
    atlas = Atlas(Settings(index_dir=index_dir, corpus=root, chroma_url=url, cache_dir=cache))
    atlas.ingest()
    return atlas


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Any]:
    """A throwaway PostgreSQL server for the session (tests/postgres.py); skipped where Debian's server is missing,
    except in CI."""
    from tests.postgres import Cluster, server_bin

    found = server_bin()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL's server is not installed: `make test` installs Debian's postgresql package.")
        pytest.skip("PostgreSQL's server is not installed (apt-get install postgresql)")
    cluster = Cluster(found)
    yield cluster
    cluster.close()


@pytest.fixture
def pg_cluster_own(pg_cluster: Any) -> Iterator[Any]:
    """A PostgreSQL server of this test's own (a test that stops its server leaves the session's alone)."""
    from tests.postgres import Cluster

    cluster = Cluster(pg_cluster.bin)
    yield cluster
    cluster.close()


@pytest.fixture
def pg_url(pg_cluster: Any) -> str:
    """A new, empty PostgreSQL database for one test."""
    return str(pg_cluster.new_database())


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Run a test on each database: "" (the SQLite files under tmp_path) or a fresh PostgreSQL database's URL."""
    return "" if request.param == "sqlite" else str(request.getfixturevalue("pg_url"))


PG_FIXTURES = {"pg_cluster", "pg_cluster_own", "pg_url"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that run on PostgreSQL are marked `postgresql`: `make test` runs them, `make check` (the quick loop)
    runs their SQLite twins only."""
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        on_postgres = "postgresql" in (params.get("backend"), params.get("deployment"))
        if on_postgres or params.get("deployment") == "hash-postgresql" or PG_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.postgresql)
