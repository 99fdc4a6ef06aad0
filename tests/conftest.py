"""Shared fixtures: every test gets its own index folder; the real model and index are built once per session."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from atlas_qa.config import Settings

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
SEED = ROOT / "corpus" / "atlas107" / "digital-technology-and-service-delivery.txt"
BORINS_QUESTION = (
    "Who argued that IT-enabled government could consolidate functions previously located separately in each department?"
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the user's ATLAS_QA_* settings or writes to the default embeddings/ folder."""
    for key in list(os.environ):
        if key.startswith("ATLAS_QA_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("ATLAS_QA_INDEX_DIR", str(tmp_path / "index"))


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
    return Settings(index_dir=tmp_path / "hash-index", model="hash-64", refuse_below=0.0)


@pytest.fixture(scope="session")
def real_atlas(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The real MiniLM model and a real Chroma store over the seed page and the polisci excerpt (built once)."""
    from atlas_qa.core import Atlas

    root = tmp_path_factory.mktemp("real-corpus")
    (root / "atlas107").mkdir()
    shutil.copy(SEED, root / "atlas107" / SEED.name)
    shutil.copytree(DATA / "polisci", root / "polisci")
    atlas = Atlas(Settings(index_dir=tmp_path_factory.mktemp("real-index"), corpus=root))
    atlas.ingest()
    return atlas
