"""The UI tests' Atlas over the fixtures: the hash embedder, a fresh index per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from atlas_qa.config import Settings
from atlas_qa.core import Atlas


@pytest.fixture
def hash_atlas(corpus: Path, hash_settings: Settings) -> Atlas:
    atlas = Atlas(hash_settings.with_(corpus=corpus))
    atlas.ingest()
    return atlas
