import json
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
    with atlas.index.write_lock():
        with pytest.raises(AtlasError, match="Another ingest"):
            Atlas(hash_settings).ingest([corpus])


def test_reopened_index_serves_the_same_chunks(corpus: Path, hash_settings):
    atlas = Atlas(hash_settings)
    atlas.ingest([corpus])
    reopened = Atlas(hash_settings)
    assert [c.id for c in reopened.index.chunks] == [c.id for c in atlas.index.chunks]
    assert reopened.index.document("m00002").title.startswith("Defining Politics")


def test_half_written_page_is_invisible_and_repaired(corpus: Path, hash_settings):
    """What a killed ingest leaves (chunks written, page record not switched) is never read, and is cleaned up."""
    atlas = Atlas(hash_settings)
    atlas.ingest([corpus])
    before = {c.id for c in atlas.index.chunks}
    index = atlas.index
    doc = index.document("m00004")
    index.collection.upsert(
        ids=["m00004::0::deadbeef0000"],
        embeddings=atlas.embedder.embed_batch(["Politics-as-science half written"]),
        documents=["Politics-as-science half written"],
        metadatas=[
            {
                "page_id": doc.page_id,
                "position": 0,
                "start": 0,
                "end": 5,
                "title": doc.title,
                "section": "",
                "speaker": "",
                "pages": "",
            }
        ],
    )
    reader = Atlas(hash_settings)
    assert {c.id for c in reader.index.chunks} == before
    hits = reader.search("Politics-as-science half written", k=20, method="dense")
    assert all(p.chunk.id in before for p in hits.passages)
    assert reader.index.check()["orphans"] == 1
    report = reader.ingest([corpus])
    assert report.embedded == 0 and reader.index.check()["orphans"] == 0
    assert {c.id for c in reader.index.chunks} == before


def test_page_whose_chunks_are_missing_is_redone(corpus: Path, hash_settings):
    atlas = Atlas(hash_settings)
    atlas.ingest([corpus])
    victim = next(c for c in atlas.index.chunks if c.page_id == "m00003")
    atlas.index.collection.delete(ids=[victim.id])
    assert Atlas(hash_settings).index.check()["missing"] == 1
    again = Atlas(hash_settings).ingest([corpus])
    assert again.added == 1 and again.embedded > 0
    assert Atlas(hash_settings).index.check()["ok"]


def test_courses_are_isolated(corpus: Path, hash_settings):
    from atlas_qa.index import list_courses

    a = Atlas(hash_settings.with_(course="atlas107"))
    a.ingest([corpus / "atlas107"])
    b = Atlas(hash_settings.with_(course="polisci"))
    b.ingest([corpus / "polisci"])
    assert list_courses(hash_settings) == ["atlas107", "polisci"]
    assert {c.page_id for c in b.index.chunks} == {"m00002", "m00003", "m00004"}
    for p in b.search("Borins IT-enabled government consolidates functions", k=20, method="hybrid").passages:
        assert p.chunk.page_id.startswith("m0000")


def test_bad_course_name_is_a_clear_error(hash_settings):
    from atlas_qa.errors import ConfigError

    with pytest.raises(ConfigError, match="Course name"):
        Atlas(hash_settings.with_(course="../etc"))


def test_export_import_round_trip(corpus: Path, hash_settings, tmp_path: Path):
    from atlas_qa.backup import import_index

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


def test_rebuild_reembeds_everything(corpus: Path, hash_settings, capsys):
    from atlas_qa.cli import main

    args = ["ingest", str(corpus), "--index-dir", str(hash_settings.index_dir), "--model", "hash-64", "--json"]
    main(args)
    first = json.loads(capsys.readouterr().out)
    main([*args, "--rebuild"])
    again = json.loads(capsys.readouterr().out)
    assert again["added"] == first["added"] and again["embedded"] == first["embedded"] > 0


def test_index_from_an_older_chunker_says_what_to_do(corpus: Path, hash_settings):
    atlas = Atlas(hash_settings)
    atlas.ingest([corpus])
    atlas.index._set_meta(chunker="0")
    with pytest.raises(IndexMismatchError, match="run `atlas-qa ingest` to upgrade"):
        Atlas(hash_settings).ask("What are de facto rules?")
    Atlas(hash_settings).ingest([corpus])
    assert not Atlas(hash_settings).ask("What are de facto rules?").refused


def test_a_search_reads_one_snapshot_while_another_process_changes_the_index(corpus: Path, hash_settings):
    reader = Atlas(hash_settings)
    reader.ingest([corpus])
    old = reader.index.snapshot()
    gone = [c.id for c in old.chunks if c.page_id == "m00003"]
    (corpus / "polisci" / "m00003.md").unlink()
    Atlas(hash_settings).ingest([corpus])  # another writer: the reader learns of it within a second

    assert all(old.chunk(cid).page_id == "m00003" for cid in gone)  # a snapshot never changes under its reader
    reader.index._checked_at = float("-inf")  # skip the once-a-second wait
    new = reader.index.snapshot()
    assert new.generation > old.generation and not set(gone) & set(new.positions)
    # Dense hits fetched before the change (a batched request) name chunks that no longer exist: they are dropped.
    hits = reader.retriever.search("politics", k=50, dense_hits=[(cid, 0.9) for cid in gone])
    assert hits.passages and all(p.chunk.page_id != "m00003" for p in hits.passages)


def test_pages_are_written_in_groups_and_a_failed_write_stops_the_ingest_cleanly(
    corpus: Path, hash_settings, monkeypatch
):
    from atlas_qa import index as index_module

    monkeypatch.setattr(index_module, "EMBED_GROUP", 3)
    atlas = Atlas(hash_settings)
    calls = []
    real = index_module.Index._write_pages

    def failing_second_group(self, pages, vectors, known):
        calls.append([doc.page_id for doc, _, _ in pages])
        if len(calls) == 2:
            raise OSError("disk full")
        real(self, pages, vectors, known)

    monkeypatch.setattr(index_module.Index, "_write_pages", failing_second_group)
    with pytest.raises(OSError, match="disk full"):
        atlas.ingest([corpus])
    assert len(calls) == 2  # the ingest stopped at the failed group
    monkeypatch.setattr(index_module.Index, "_write_pages", real)
    assert Atlas(hash_settings).index.check()["ok"]
    written = {p["page_id"] for p in Atlas(hash_settings).index.pages()}
    assert written == set(calls[0])  # the first group's pages are whole; the rest are not visible

    report = Atlas(hash_settings).ingest([corpus])
    assert report.unchanged == len(calls[0]) and report.added == 4 - len(calls[0])
    check = Atlas(hash_settings).index.check()
    assert check["ok"] and check["orphans"] == 0 and check["pages"] == 4
