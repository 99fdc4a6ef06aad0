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


def test_a_page_cites_the_reference_list_another_page_of_its_chapter_keeps(tmp_path: Path, hash_settings):
    """Psychology lists a chapter's references on the chapter's introduction: a section's "(Johnson & Lubin, 2011)"
    resolves there, after the page's own list, and only within the chapter; the borrowed entries are not the page's
    own (its parse lists none, and a question does not take the page for one citing their authors)."""
    import shutil

    from atlas_qa.answer.terms import named_author
    from atlas_qa.attribution import cites_in_span
    from atlas_qa.parsed import page_parse
    from atlas_qa.types import ELSEWHERE

    from .conftest import DATA

    root = tmp_path / "course"
    shutil.copytree(DATA / "psychology", root)
    other = (root / "m82162.md").read_text(encoding="utf-8")
    (root / "m90000.md").write_text(
        other.replace("m82162", "m90000").replace('chapter: "Introduction to', 'chapter: "Not')
    )
    atlas = Atlas(hash_settings)
    atlas.ingest([root])
    view = atlas.index.snapshot()
    section, intro, elsewhere = view.document("m82162"), view.document("m82161"), view.document("m90000")

    at = section.text.index("(Johnson & Lubin, 2011)")
    (cite,) = [c for c in cites_in_span(section, at - 10, at + 30) if c.label == "Johnson & Lubin, 2011"]
    assert cite.reference.startswith("Johnson, R., & Lubin, G. (2011). College exposed")
    assert not [c for c in cites_in_span(elsewhere, at - 10, at + 30) if c.reference]  # another chapter
    assert all(r.key.startswith(ELSEWHERE + "m82161:") for r in section.references) and not section.own_references
    assert intro.references == intro.own_references and len(intro.references) > 20  # its own, not borrowed back
    parse = page_parse(section)
    assert parse.references == () and parse.unresolved < len(parse.citations) // 2
    assert named_author("what did johnson and lubin find?", [section]) == ""
