from hypothesis import given, settings
from hypothesis import strategies as st

from atlas_qa.chunking import chunk_document, count_tokens
from atlas_qa.loaders import markdown
from atlas_qa.spans import sentence_spans
from atlas_qa.types import Document
from tests.embedder import HashEmbedder

from .conftest import DATA
from .loaders.builders import seed_doc


def test_chunks_are_exact_spans_within_budget():
    doc = seed_doc()
    chunks = chunk_document(doc, max_tokens=120)
    assert chunks
    for c in chunks:
        assert c.text == doc.text[c.start : c.end]
        assert count_tokens(c.text) <= 120
    assert [c.position for c in chunks] == list(range(len(chunks)))


def test_quotation_chunks_carry_speaker_and_never_cross_its_edges():
    doc = seed_doc()
    pal = doc.quotations[0]
    for c in chunk_document(doc, max_tokens=200):
        inside = pal.start <= c.start and c.end <= pal.end
        outside = c.end <= pal.start or c.start >= pal.end
        assert inside or outside, c.text[:60]
        assert (c.speaker, c.pages) == (("Pal", "213-214") if inside else ("", ""))


def test_markdown_chunks_have_section_paths():
    path = DATA / "polisci" / "m00002.md"
    doc = markdown.parse(path.read_text(encoding="utf-8"), "m", str(path))
    sections = {c.section for c in chunk_document(doc)}
    assert {"Rules", "Reality", "Choices"} <= sections


def test_chunk_ids_are_stable_and_change_with_content():
    doc = seed_doc()
    first = [c.id for c in chunk_document(doc)]
    assert first == [c.id for c in chunk_document(doc)]
    edited = Document(**{**doc.__dict__, "text": doc.text.replace("We do not go that far.", "We go further.")})
    changed = [c.id for c in chunk_document(edited)]
    assert changed != first
    assert first[0] == changed[0]  # untouched chunks keep their id


def test_model_window_check_splits_chunks_that_do_not_fit():
    doc = seed_doc()
    small = HashEmbedder(max_tokens=60)
    chunks = chunk_document(doc, max_tokens=200, fits=small.fits_all)
    assert all(small.fits(c.embed_text) for c in chunks)
    assert len(chunks) > len(chunk_document(doc, max_tokens=200))


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=3000), st.integers(32, 200))
def test_any_text_gives_valid_chunks_and_loses_nothing(text, budget):
    doc = Document(page_id="p", title="T", text=text, source="p", format="text")
    chunks = chunk_document(doc, max_tokens=budget)
    covered = "".join(text[c.start : c.end] for c in chunks)
    assert "".join(covered.split()) == "".join(text.split())
    for c in chunks:
        assert c.text == text[c.start : c.end]
        assert count_tokens(c.text) <= budget


def test_sentences_end_at_full_stops_not_at_abbreviations():
    text = (
        "Then, the Supreme Court ruled in Shelby County v. Holder (2013) that the provisions no longer applied. "
        "Pal (2014, p. 213) and Borins et al. (2007) agree. See Vol. 2 of the report. It ends here."
    )
    assert [text[a:b] for a, b in sentence_spans(text)] == [
        "Then, the Supreme Court ruled in Shelby County v. Holder (2013) that the provisions no longer applied.",
        "Pal (2014, p. 213) and Borins et al. (2007) agree.",
        "See Vol. 2 of the report.",
        "It ends here.",
    ]


def test_a_full_stop_before_the_verb_of_a_dropped_figure_ends_a_sentence():
    # OpenStax pages whose figure and table links were dropped: "Table 12.2 summarizes ..." lost "Table 12.2"; a
    # question mark inside a quotation, or an abbreviation, before the same verbs ends nothing
    text = (
        "However, Harvard refused to grant Calkins a PhD because she was a woman (Harvard University, 2019). "
        "summarizes the characteristics of stereotypes, prejudice, and discrimination. "
        "Elder abuse includes self-neglect. shows some of the signs. "
        "The question of “What is the self?” illustrates how a singular thing may not require an answer. "
        "The Equal Employment Opportunity Commission (n.d.) provides a description."
    )
    assert [text[a:b] for a, b in sentence_spans(text)] == [
        "However, Harvard refused to grant Calkins a PhD because she was a woman (Harvard University, 2019).",
        "summarizes the characteristics of stereotypes, prejudice, and discrimination.",
        "Elder abuse includes self-neglect.",
        "shows some of the signs.",
        "The question of “What is the self?” illustrates how a singular thing may not require an answer.",
        "The Equal Employment Opportunity Commission (n.d.) provides a description.",
    ]
