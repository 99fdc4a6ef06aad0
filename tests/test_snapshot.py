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


def test_a_question_reads_one_snapshot_even_when_the_index_changes_while_it_is_answered(
    corpus: Path, hash_settings, monkeypatch
):
    from atlas_qa.snapshot import Snapshot

    reader = Atlas(hash_settings)
    reader.ingest([corpus])
    question = "What are de facto rules?"
    reader.ask(question)
    read: list[int] = []
    real_document, real_search = Snapshot.document, reader.retriever.search

    def document(self, page_id):  # type: ignore[no-untyped-def]
        read.append(self.generation)
        return real_document(self, page_id)

    def search(*args, **kw):  # type: ignore[no-untyped-def]
        found = real_search(*args, **kw)
        page = corpus / "polisci" / "m00004.md"
        page.write_text(page.read_text(encoding="utf-8").replace("Political science", "Politics-as-science", 1))
        Atlas(hash_settings).ingest([corpus])  # another writer, between retrieval and the page reads
        reader.index.snapshot(refresh=True)  # as if a second had passed: the reader now knows of it
        return found

    monkeypatch.setattr(Snapshot, "document", document)
    monkeypatch.setattr(reader.retriever, "search", search)
    before = reader.index.snapshot().generation
    answer = reader.ask(question)
    assert answer.citations and read and set(read) == {before}
    assert reader.index.snapshot().generation > before
