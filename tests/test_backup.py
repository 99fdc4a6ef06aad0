"""store/backup.py: export and import of an index archive."""

from pathlib import Path

import pytest

from atlas_qa.core import Atlas
from atlas_qa.errors import AtlasError


def test_export_import_round_trip(corpus: Path, hash_settings, tmp_path: Path):
    from atlas_qa.store.backup import import_index

    atlas = Atlas(hash_settings)
    atlas.ingest([corpus])
    question = "What are de facto rules?"
    before = atlas.ask(question)
    archive = tmp_path / "backup.tar.gz"
    from atlas_qa.cli import main

    assert (
        main(["index", "export", str(archive), "--index-dir", str(hash_settings.index_dir), "--model", "hash-64"]) == 0
    )
    restored = Atlas(hash_settings.with_(index_dir=tmp_path / "restored"))
    assert main(["index", "import", str(archive), "--index-dir", str(tmp_path / "restored"), "--model", "hash-64"]) == 0
    after = restored.ask(question)
    assert after.answer == before.answer and [c.page_id for c in after.citations] == [
        c.page_id for c in before.citations
    ]
    assert restored.index.check()["ok"] and restored.ingest([corpus]).embedded == 0
    with pytest.raises(AtlasError, match="--force"):
        import_index(restored.index, archive)
    with pytest.raises(AtlasError, match="not an atlas-qa index archive"):
        import_index(restored.index, corpus / "atlas107" / "digital-technology-and-service-delivery.txt", force=True)
