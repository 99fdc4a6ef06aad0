"""ingest.py: diff, chunk, embed, write (`write_pages`), report."""

import json
from pathlib import Path

import pytest

from atlas_qa.core import Atlas


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


def test_rebuild_reembeds_everything(corpus: Path, hash_settings, capsys, no_reader_grace):
    from atlas_qa.cli import main

    args = ["ingest", str(corpus), "--index-dir", str(hash_settings.index_dir), "--model", "hash-64", "--json"]
    main(args)
    first = json.loads(capsys.readouterr().out)
    main([*args, "--rebuild"])
    again = json.loads(capsys.readouterr().out)
    assert again["added"] == first["added"] and again["embedded"] == first["embedded"] > 0


def test_pages_are_written_in_groups_and_a_failed_write_stops_the_ingest_cleanly(
    corpus: Path, hash_settings, monkeypatch
):
    from atlas_qa import ingest

    monkeypatch.setattr(ingest, "EMBED_GROUP", 3)
    atlas = Atlas(hash_settings)
    calls = []
    real = ingest.write_pages

    def failing_second_group(index, items, *args):
        calls.append([item.doc.page_id for item in items])
        if len(calls) == 2:
            raise OSError("disk full")
        real(index, items, *args)

    monkeypatch.setattr(ingest, "write_pages", failing_second_group)
    with pytest.raises(OSError, match="disk full"):
        atlas.ingest([corpus])
    assert len(calls) == 2  # the ingest stopped at the failed group
    monkeypatch.setattr(ingest, "write_pages", real)
    assert Atlas(hash_settings).index.check()["ok"]
    written = {p["page_id"] for p in Atlas(hash_settings).index.pages()}
    assert written == set(calls[0])  # the first group's pages are whole; the rest are not visible

    report = Atlas(hash_settings).ingest([corpus])
    assert report.unchanged == len(calls[0]) and report.added == 4 - len(calls[0])
    check = Atlas(hash_settings).index.check()
    assert check["ok"] and check["orphans"] == 0 and check["pages"] == 4


def test_write_pages_is_the_one_write_path_and_ingest_agrees_with_it(corpus: Path, hash_settings):
    from atlas_qa.chunking import chunk_document
    from atlas_qa.ingest import PageWrite, write_pages
    from atlas_qa.loaders import load_corpus

    atlas = Atlas(hash_settings)
    docs = load_corpus([corpus]).documents
    items = []
    for doc in docs:
        chunks = chunk_document(doc, hash_settings.chunk_tokens, atlas.embedder.fits_all)
        items.append(PageWrite(doc, chunks, atlas.embedder.embed_batch([c.embed_text for c in chunks])))
    write_pages(atlas.index, items)  # no lock held: it takes the lock and moves the generation itself
    assert {c.id for c in atlas.index.chunks} == {c.id for item in items for c in item.chunks}
    assert atlas.index.check()["ok"]
    report = atlas.ingest([corpus])
    assert report.embedded == 0 and report.unchanged == len(docs)  # the same page hashes as an ingest writes

    wrong = items[0]
    with pytest.raises(ValueError, match="vectors"):
        write_pages(atlas.index, [PageWrite(wrong.doc, wrong.chunks, wrong.vectors[:-1])])
    assert atlas.index.check()["ok"]


def test_report_summary_for_people():
    """Up to date, changes, and several formats with a skip each read as one line of their own."""
    from atlas_qa.ingest import IngestReport
    from atlas_qa.loaders import Skipped

    assert IngestReport(unchanged=3, chunks=9).summary() == [
        "Index up to date: 3 pages unchanged, nothing embedded (9 chunks)."
    ]
    report = IngestReport(
        added=1,
        chunks=4,
        embedded=4,
        skipped=[Skipped("bad.pdf", "not a PDF")],
        by_format={"md": {"loaded": 1, "skipped": 0}, "pdf": {"loaded": 0, "skipped": 1}},
    )
    assert report.summary() == [
        "Indexed: 1 added, 0 updated, 0 removed, 0 unchanged; 4 chunks embedded, 4 in the index.",
        "By format: md 1 loaded, 0 skipped, pdf 0 loaded, 1 skipped",
        "skipped bad.pdf: not a PDF",
    ]
