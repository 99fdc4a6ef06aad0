from types import SimpleNamespace

import numpy as np
import pytest

from atlas_qa.core import Atlas
from atlas_qa.lexical import LexicalIndex, PageTerms, tokenize
from atlas_qa.retrieve import METHODS, Retrieval, _page_max, _rrf, _z, _z_dict, breadth, breadth_k


def test_tokenize_stems_and_drops_stop_words_and_footnotes():
    assert tokenize("The Governments were governing[^3] quickly") == ["govern", "govern", "quick"]


def test_defines_scores_pages_that_define_a_term_of_the_question():
    terms = PageTerms([("Rules", ["de jure", "institutions"]), ("Reality", ["fact"]), ("Other", [])])
    scores = terms.defines("What is meant by 'de jure'?")
    assert scores[0] == pytest.approx(1.0) and scores[1] == scores[2] == 0
    mixed = terms.defines("Which fact about institutions matters?")  # stems: fact, institut, matter
    assert mixed[0] == pytest.approx(1 / 3) and mixed[1] == pytest.approx(1 / 3)


def test_covers_is_the_idf_weighted_share_of_the_question_in_title_and_key_terms():
    terms = PageTerms([("Voting rules", ["turnout"]), ("Parties", ["party system"]), ("Other", [])])
    idf = {"vote": 1.0, "turnout": 3.0, "parti": 2.0}.get
    scores = terms.covers("Why is voting turnout low among parties?", lambda s: idf(s, 0.0))  # low, among: 0
    assert scores == pytest.approx([4 / 6, 2 / 6, 0.0])
    assert not terms.covers("why", lambda s: 1.0).any()  # nothing left after stop words


def test_known_weight_is_the_share_of_the_question_bm25_can_see():
    lexical = LexicalIndex(["bureaucracy grows", "the word grows", "a word", "words and more words"])
    assert lexical.known_weight("What does the word bureaucracy mean?") == 1.0
    word, bureaucracy = lexical.idf("word"), lexical.idf("bureaucraci")  # in 3 texts; in 1, the rarest possible
    assert bureaucracy > word > 0
    assert lexical.known_weight("What does the word beaurocracy mean?") == pytest.approx(word / (word + bureaucracy))
    assert lexical.known_weight("what is it?") == 0.0 and LexicalIndex([]).known_weight("word") == 0.0


def test_agreement_prefers_a_page_whose_one_chunk_both_sides_rank_high():
    view = SimpleNamespace(page_ids=["A", "B"], page_of={"a1": 0, "a2": 0, "b1": 1})
    dense, bm25 = {"a1": 0.9, "b1": 0.8}, {"a2": 12.0, "b1": 11.0}
    assert list(_page_max(dense, view)) == [0.9, 0.8] and list(_page_max(bm25, view)) == [12.0, 11.0]
    agree = _page_max(_rrf([dense, bm25]), view)
    assert agree[1] > agree[0]  # b1 is second on both sides; A's best chunks differ per side


def test_z_helpers():
    assert np.allclose(_z(np.array([1.0, 2.0, 3.0])), [-1.2247, 0.0, 1.2247], atol=1e-4)
    assert not _z(np.array([2.0, 2.0])).any()
    z = _z_dict({"a": 1.0, "b": 3.0}, {"c"})
    assert z["c"] == z["a"] == -1.0 and z["b"] == 1.0


def test_a_rare_terms_one_bm25_chunk_stands_out_when_bm25_returned_every_chunk_with_its_words():
    """ "What is meant by 'polygyny'?": one chunk of the book has the word. With the lowest returned score as the floor
    of the chunks and pages BM25 did not return, that one chunk was its own floor and counted nothing (z 0); when BM25
    returned every chunk with a word of the question (fewer than it may), the others score 0, and it stands out."""
    view = SimpleNamespace(page_ids=["A", "B", "C"], page_of={"a1": 0, "b1": 1, "c1": 2})
    bm25 = {"a1": 3.0}
    assert list(_page_max(bm25, view)) == [3.0, 3.0, 3.0] and not _z(_page_max(bm25, view)).any()  # unknown floor
    assert list(_z(_page_max(bm25, view, 0.0))) == pytest.approx([1.4142, -0.7071, -0.7071], abs=1e-4)
    z = _z_dict(bm25, {"b1", "c1"}, 0.0)
    assert z["a1"] > 0 > z["b1"] == z["c1"]
    assert _z_dict(bm25, {"b1"})["a1"] == 0.0  # without a known floor: as before


@pytest.mark.parametrize("method", METHODS)
def test_every_method_ranks_pages_and_passages(corpus, hash_settings, method):
    atlas = Atlas(hash_settings)
    atlas.ingest([corpus])
    result = atlas.search("What is meant by 'de facto rules'?", k=3, method=method)
    assert len(result.passages) == 3
    assert [p.score for p in result.passages] == sorted((p.score for p in result.passages), reverse=True)
    assert len({p for p, _ in result.pages}) == len(result.pages)
    if method == "hybrid":
        assert len(result.pages) == len(atlas.index.page_ids)
        assert result.pages[0][0] == "m00002"  # the page that explains both terms
        assert result.passages[0].chunk.page_id == result.pages[0][0]


def test_unknown_method_is_refused(corpus, hash_settings):
    atlas = Atlas(hash_settings)
    atlas.ingest([corpus])
    with pytest.raises(ValueError, match="unknown retriever"):
        atlas.search("rules", method="magic")


def test_filters_keep_only_matching_pages(corpus, hash_settings):
    atlas = Atlas(hash_settings)
    atlas.ingest([corpus])
    facets = atlas.facets()
    assert facets["course"] == ["Atlas107"]
    assert "What Is Politics and What Is Political Science?" in facets["chapter"]
    only_seed = atlas.search("rules of government service delivery", k=5, filters={"course": "Atlas107"})
    assert {p.chunk.page_id for p in only_seed.passages} == {"atlas107/digital-technology-and-service-delivery.txt"}
    assert [p for p, _ in only_seed.pages] == ["atlas107/digital-technology-and-service-delivery.txt"]
    none = atlas.search("rules", filters={"course": "No such course"})
    assert none.passages == () and none.pages == ()
    assert atlas.ask("rules", filters={"course": "No such course"}).refused


def test_ingest_progress_callback_and_last_ingest(corpus, hash_settings):
    atlas = Atlas(hash_settings)
    seen = []
    report = atlas.ingest([corpus], progress=lambda done, total: seen.append((done, total)))
    assert seen[0] == (0, report.embedded) and seen[-1] == (report.embedded, report.embedded)
    last = atlas.index.last_ingest()
    assert last["added"] == 4 and last["finished_at"] > 0


def test_page_signals_weighted_are_hybrids_page_scores(corpus, hash_settings):
    from atlas_qa.retrieve import WEIGHTS, combine

    atlas = Atlas(hash_settings)
    atlas.ingest([corpus])
    question = "What is meant by 'de facto rules'?"
    view = atlas.index.snapshot()
    signals = atlas.retriever.page_signals(question, view=view)
    assert list(signals) == list(WEIGHTS) and all(len(v) == len(view.page_ids) for v in signals.values())
    scores = combine(signals)
    pages = atlas.search(question, method="hybrid").pages
    assert [p for p, _ in pages] == [view.page_ids[i] for i in np.argsort(-scores, kind="stable")]
    assert [s for _, s in pages] == pytest.approx(sorted(scores.tolist(), reverse=True))
    no_defines = combine(signals, {**WEIGHTS, "defines": 0.0})
    assert no_defines == pytest.approx(scores - WEIGHTS["defines"] * signals["defines"])


def test_breadth_averages_the_nearest_twentieth_of_the_course_between_5_and_100_chunks():
    assert [breadth_k(n) for n in (10, 100, 119, 120, 1893, 2000, 50_000)] == [5, 5, 5, 6, 94, 100, 100]
    sims = [0.1, 0.9, 0.5, 0.7, 0.3, 0.2, 0.8]
    assert breadth(sims, chunks=120) == pytest.approx((0.9 + 0.8 + 0.7 + 0.5 + 0.3 + 0.2) / 6)
    assert breadth(sims[:3], chunks=2000) == pytest.approx(0.5)  # fewer hits than k: all of them
    assert breadth([], chunks=2000) == 0.0
    r = Retrieval(passages=(), pages=(), top_similarity=0.5, coverage=0.5, breadth=0.25)
    assert r.relevance == pytest.approx(0.5 + 0.2 * 0.5 + 0.25)


def test_breadth_counts_the_chunks_of_the_filtered_course(corpus, hash_settings):
    atlas = Atlas(hash_settings)
    atlas.ingest([corpus])
    view = atlas.index.snapshot()
    seed = view.pages_matching({"course": "Atlas107"})
    assert view.chunk_count(seed) == sum(c.page_id in seed for c in view.chunks) < view.chunk_count()
    found = atlas.search("rules of government service delivery", k=5, filters={"course": "Atlas107"})
    hits = atlas.index.dense(atlas.question_vector("rules of government service delivery"), 100, {"course": "Atlas107"})
    assert found.breadth == pytest.approx(breadth([s for _, s in hits], view.chunk_count(seed)))


def test_the_nearest_chunks_are_exact_and_the_same_in_every_process(corpus, hash_settings, monkeypatch):
    """A snapshot searches its chunks' vectors exactly: the cosines of a brute force over every stored vector, best
    first, the pages filter applied; Chroma's approximate search (the path past `EXACT_SEARCH_CHUNKS`) misses some
    near chunks, differently in each process, and the breadth of the relevance reads the nearest 100."""
    import numpy as np

    from atlas_qa.store import index as index_module

    atlas = Atlas(hash_settings)
    atlas.ingest([corpus])
    view = atlas.index.snapshot()
    stored = atlas.index.collection.get(include=["embeddings"])
    vectors = {cid: np.asarray(v, dtype=np.float64) for cid, v in zip(stored["ids"], stored["embeddings"])}
    query = atlas.question_vector("rules of government service delivery")
    seed = view.pages_matching({"course": "Atlas107"})
    for filters, pages in ((None, set(view.page_ids)), ({"course": "Atlas107"}, seed)):
        brute = sorted(  # best first, ties in page order
            (-float(vectors[c.id].astype(np.float32) @ query.astype(np.float32)), i, c.id)
            for i, c in enumerate(view.chunks)
            if c.page_id in pages
        )
        hits = atlas.index.dense(query, 7, filters)
        assert [cid for cid, _ in hits] == [cid for _, _, cid in brute[:7]]
        assert [s for _, s in hits] == pytest.approx([-s for s, _, _ in brute[:7]], abs=1e-6)
    assert view.nearest(np.stack([query, query]), 3) == [view.nearest(query[None, :], 3)[0]] * 2
    assert view.nearest(query[None, :], 500)[0] == atlas.index.dense(query, len(view.chunks))  # all, best first

    monkeypatch.setattr(index_module, "EXACT_SEARCH_CHUNKS", 0)  # a course too big to hold: Chroma searches
    reopened = Atlas(hash_settings)
    past = reopened.index.snapshot()
    assert past.vectors is None and past.chunks == view.chunks
    approximate = reopened.index.dense(query, 3)
    assert [s for _, s in approximate] == sorted((s for _, s in approximate), reverse=True)
    assert {cid for cid, _ in approximate} <= {c.id for c in past.chunks}


def test_a_reader_reads_the_vectors_another_process_wrote_since(corpus, hash_settings):
    """An embedded Chroma keeps the vector index it read in memory: after another process rewrote every chunk, the
    reader's next snapshot (exact search reads every chunk's vector) comes from a new Chroma, not the stale one."""
    import re
    import subprocess
    import sys

    pages = sorted((corpus / "polisci").glob("*.md"))
    for i in range(30):  # over a thousand chunks: Chroma saves its vector index to disk every 1000 writes
        for page in pages:
            text = page.read_text(encoding="utf-8").replace("page_id: ", f"page_id: copy{i}-", 1)
            (corpus / "polisci" / f"copy{i}-{page.name}").write_text(text, encoding="utf-8")
    reader = Atlas(hash_settings)
    reader.ingest([corpus])
    before = reader.index.snapshot()
    for page in sorted(corpus.rglob("*.md")):
        page.write_text(re.sub(r"\bthe\b", "the very", page.read_text(encoding="utf-8")), encoding="utf-8")
    cmd = [sys.executable, "-m", "atlas_qa.cli", "ingest", str(corpus), "--index-dir", str(hash_settings.index_dir)]
    assert subprocess.run([*cmd, "--model", "hash-64"], capture_output=True, text=True).returncode == 0
    after = reader.index.snapshot(refresh=True)  # Chroma's stale copy said "Error finding id"
    new = {c.id for c in after.chunks} - {c.id for c in before.chunks}
    assert after.generation > before.generation and len(new) > 1000
    assert after.vectors is not None and after.vectors.shape == (len(after.chunks), 64)
    hits = reader.index.dense(reader.question_vector("the very rules of government"), 5)
    assert {cid for cid, _ in hits} <= {c.id for c in after.chunks} and hits[0][0] in new
