"""store/backup.py: export and import of an index archive."""

from pathlib import Path

import numpy as np
import pytest

from atlas_qa.core import Atlas
from atlas_qa.errors import AtlasError


def test_export_import_round_trip(corpus: Path, hash_settings, tmp_path: Path, no_reader_grace):
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
    assert restored.index.snapshot().chunks == atlas.index.snapshot().chunks
    # each chunk's own vector (to float32's last bit: the archive writes them as JSON numbers)
    assert np.allclose(restored.index.snapshot().vectors, atlas.index.snapshot().vectors, rtol=0, atol=1e-7)
    assert restored.index.check()["ok"] and restored.ingest([corpus]).embedded == 0
    with pytest.raises(AtlasError, match="--force"):
        import_index(restored.index, archive)
    with pytest.raises(AtlasError, match="not an atlas-qa index archive"):
        import_index(restored.index, corpus / "atlas107" / "digital-technology-and-service-delivery.txt", force=True)


def test_an_ingest_cannot_slip_in_while_an_import_replaces_the_index(
    corpus: Path, hash_settings, monkeypatch, no_reader_grace
):
    """An ingest that asks for the lock whenever the import lets go of it: the two must end as if run one after the
    other (import then ingest: both sets of pages; or ingest then import: the import refused without --force), never
    with the ingest's pages silently replaced by an import that found the index empty."""
    from contextlib import contextmanager

    from atlas_qa.ingest import IngestReport
    from atlas_qa.store.backup import export_index, import_index

    source = Atlas(hash_settings.with_(index_dir=hash_settings.index_dir / "source"))
    source.ingest([corpus / "atlas107"])
    archive = hash_settings.index_dir / "atlas107.tar.gz"
    export_index(source.index, archive)
    archived = {p["page_id"] for p in source.index.pages()}

    target = Atlas(hash_settings)  # an empty index: the import needs no --force
    real_lock = target.index.write_lock
    ingested: list[IngestReport] = []

    @contextmanager
    def write_lock():  # type: ignore[no-untyped-def]
        with real_lock() as held:
            yield held
        if not ingested:  # the import let go of the lock: another process's ingest takes it now
            ingested.append(Atlas(hash_settings).ingest([corpus / "polisci"]))

    monkeypatch.setattr(target.index, "write_lock", write_lock)
    try:
        import_index(target.index, archive)
        refused = False
    except AtlasError as exc:
        assert "--force" in str(exc)
        refused = True
    final = {p["page_id"] for p in Atlas(hash_settings).index.pages()}
    polisci = {"m00002", "m00003", "m00004"}
    assert ingested and ingested[0].added == 3, "the import never let go of the write lock"
    if refused:  # the ingest went first
        assert final == polisci
    else:  # the import went first, then the ingest added its pages
        assert final == archived | polisci
