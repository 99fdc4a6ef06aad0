"""snapshot.py: one version of the index per question."""

from pathlib import Path

from atlas_qa.core import Atlas


def test_a_search_reads_one_snapshot_while_another_process_changes_the_index(corpus: Path, hash_settings):
    reader = Atlas(hash_settings)
    reader.ingest([corpus])
    old = reader.index.snapshot()
    gone = [c.id for c in old.chunks if c.page_id == "m00003"]
    (corpus / "polisci" / "m00003.md").unlink()
    Atlas(hash_settings).ingest([corpus])  # another writer: the reader learns of it within a second

    assert all(old.chunk(cid).page_id == "m00003" for cid in gone)  # a snapshot never changes under its reader
    new = reader.index.snapshot(refresh=True)  # skip the once-a-second wait
    assert new.generation > old.generation and not set(gone) & set(new.positions)
    # Dense hits fetched before the change (a batched request) name chunks that no longer exist: they are dropped.
    hits = reader.retriever.search("politics", k=50, dense_hits=[(cid, 0.9) for cid in gone])
    assert hits.passages and all(p.chunk.page_id != "m00003" for p in hits.passages)
