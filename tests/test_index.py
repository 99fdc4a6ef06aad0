from pathlib import Path

import pytest

from atlas_qa.core import Atlas
from atlas_qa.errors import AtlasError, IndexMismatchError


def test_incremental_sync(corpus: Path, hash_settings):
    atlas = Atlas(hash_settings)
    first = atlas.ingest([corpus])
    assert (first.added, first.updated, first.removed, first.unchanged) == (4, 0, 0, 0)
    assert first.embedded == first.chunks == atlas.index.count() == atlas.index.collection.count()

    again = atlas.ingest([corpus])
    assert (again.added, again.updated, again.unchanged, again.embedded) == (0, 0, 4, 0)

    page = corpus / "polisci" / "m00004.md"
    page.write_text(page.read_text(encoding="utf-8").replace("Political science", "Politics-as-science", 1))
    before = {c.id for c in atlas.index.chunks if c.page_id != "m00004"}
    edited = atlas.ingest([corpus])
    assert (edited.updated, edited.unchanged) == (1, 3)
    assert 0 < edited.embedded < first.embedded
    assert before <= {c.id for c in atlas.index.chunks}  # other pages untouched

    (corpus / "polisci" / "m00003.md").unlink()
    removed = atlas.ingest([corpus])
    assert removed.removed == 1
    assert all(c.page_id != "m00003" for c in atlas.index.chunks)
    assert atlas.index.collection.count() == atlas.index.count() == removed.chunks
    assert not atlas.index.collection.get(where={"page_id": "m00003"})["ids"]


def test_ingest_of_one_folder_keeps_pages_from_another(tmp_path: Path, corpus: Path, hash_settings):
    atlas = Atlas(hash_settings)
    atlas.ingest([corpus / "atlas107"])
    report = atlas.ingest([corpus / "polisci"])
    assert report.removed == 0
    assert {p["page_id"] for p in atlas.index.pages()} >= {"digital-technology-and-service-delivery.txt", "m00002"}


def test_a_page_that_stops_loading_keeps_its_last_good_version(corpus: Path, hash_settings):
    atlas = Atlas(hash_settings)
    atlas.ingest([corpus])
    (corpus / "polisci" / "m00004.md").write_text("---\ntitle: [broken\n---\n")
    report = atlas.ingest([corpus])
    assert report.removed == 0 and len(report.skipped) == 1
    assert any(c.page_id == "m00004" for c in atlas.index.chunks)


def test_index_built_with_another_model_is_refused(corpus: Path, hash_settings):
    Atlas(hash_settings).ingest([corpus])
    other = Atlas(hash_settings.with_(model="hash-32"))
    with pytest.raises(IndexMismatchError, match="hash-64"):
        other.ingest([corpus])


def test_second_concurrent_ingest_is_refused(corpus: Path, hash_settings):
    atlas = Atlas(hash_settings)
    with atlas.index._write_lock():
        with pytest.raises(AtlasError, match="Another ingest"):
            Atlas(hash_settings).ingest([corpus])


def test_reopened_index_serves_the_same_chunks(corpus: Path, hash_settings):
    atlas = Atlas(hash_settings)
    atlas.ingest([corpus])
    reopened = Atlas(hash_settings)
    assert [c.id for c in reopened.index.chunks] == [c.id for c in atlas.index.chunks]
    assert reopened.index.document("m00002").title.startswith("Defining Politics")
