"""store/: opening, checking, locking and repairing a course's index; courses side by side."""

from pathlib import Path

import pytest

from atlas_qa.core import Atlas
from atlas_qa.errors import AtlasError, IndexMismatchError


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
    from atlas_qa.store.client import list_courses

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


def test_index_from_an_older_chunker_says_what_to_do(corpus: Path, hash_settings):
    atlas = Atlas(hash_settings)
    atlas.ingest([corpus])
    atlas.index.set_meta(chunker="0")
    with pytest.raises(IndexMismatchError, match="run `atlas-qa ingest` to upgrade"):
        Atlas(hash_settings).ask("What are de facto rules?")
    Atlas(hash_settings).ingest([corpus])
    assert not Atlas(hash_settings).ask("What are de facto rules?").refused


def _kill_between_save_and_id_map(index_dir: Path, collection) -> None:
    """Leave `collection` as a SIGKILL leaves it when it lands after Chroma saved its HNSW files and before it rewrote
    their id map (`index_metadata.pickle`): its log holds deletes that the saved files already hold, and a new process
    cannot apply it. Made with records added and deleted again (the content stays as it was), failing that one file
    write (a folder in its place)."""
    import sqlite3

    import chromadb
    from chromadb.api.shared_system_client import SharedSystemClient

    dimension = len(collection.get(limit=1, include=["embeddings"])["embeddings"][0])
    extra = [f"extra-{i}" for i in range(500)]
    root = index_dir / "chroma"
    with sqlite3.connect(root / "chroma.sqlite3") as db:
        (segment,) = db.execute(
            "SELECT id FROM segments WHERE collection = ? AND scope = 'VECTOR'", (str(collection.id),)
        ).fetchone()
    id_map = root / segment / "index_metadata.pickle"
    while not id_map.exists():  # Chroma saves the HNSW files and their id map every 1000 writes (hnsw:sync_threshold)
        collection.upsert(ids=extra, embeddings=[[1.0] * dimension] * len(extra))
    saved = id_map.read_bytes()
    id_map.unlink()
    id_map.mkdir()
    collection.delete(ids=extra)
    with pytest.raises(Exception, match="hnsw"):  # the 1000th write: the HNSW files saved, the id map not
        collection.upsert(ids=extra, embeddings=[[1.0] * dimension] * len(extra))
    with pytest.raises(Exception, match="hnsw"):  # stored and logged before Chroma fails to save again
        collection.delete(ids=extra)
    id_map.rmdir()
    id_map.write_bytes(saved)
    SharedSystemClient.clear_system_cache()  # what a new process finds: the error `index check` once failed with
    client = chromadb.PersistentClient(path=str(root), settings=chromadb.config.Settings(anonymized_telemetry=False))
    with pytest.raises(Exception, match="Failed to apply logs to the hnsw segment writer"):
        client.get_collection(collection.name).count()


@pytest.mark.parametrize("damaged", ["chunks", "page records"])
def test_vector_index_a_kill_left_unreadable_is_recovered(corpus: Path, hash_settings, damaged: str):
    """A kill while Chroma saves a collection's HNSW files can leave a log Chroma cannot apply: the next process that
    opens the index recovers it without losing a page (`index check` says what it did), and ingest goes on."""
    from chromadb.api.shared_system_client import SharedSystemClient

    atlas = Atlas(hash_settings)
    atlas.ingest([corpus])
    before = sorted(c.id for c in atlas.index.chunks)
    hits = [p.chunk.id for p in atlas.search("What is politics?", k=5, method="dense").passages]
    index = atlas.index
    _kill_between_save_and_id_map(
        hash_settings.index_dir, index.collection if damaged == "chunks" else index.pages_collection
    )

    def fresh() -> Atlas:  # a new process: its Chroma reads the files
        SharedSystemClient.clear_system_cache()
        return Atlas(hash_settings)

    reader = fresh()
    check = reader.index.check()
    assert check["ok"] and check["clean"] and len(check["recovered"]) == 1, check
    assert sorted(c.id for c in reader.index.chunks) == before
    assert [p.chunk.id for p in reader.search("What is politics?", k=5, method="dense").passages] == hits
    assert fresh().ingest([corpus]).embedded == 0  # every page whole: nothing to redo
    again = fresh().index.check()
    assert again["clean"] and again["recovered"] == []
