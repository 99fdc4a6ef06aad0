from atlas_qa.attribution import chain_for_span, cites_in_span, find_citations, parse_reference

from .loaders.builders import seed_doc


def test_parse_reference_surnames_and_year():
    ref = parse_reference("Tapscott, D., & Williams, A. D. (2006). Wikinomics: How mass collaboration.", "r")
    assert ref.authors == ("Tapscott", "Williams") and ref.year == "2006"
    ref = parse_reference("Leslie Pal (2014), Beyond Policy Analysis – Public Issue Management, Fifth Edition", "r")
    assert ref.authors == ("Pal",) and ref.year == "2014"


def test_find_citations_forms():
    text = (
        "some (Dunleavy et al., 2005) see; rules (Fountain, 2001); x (Borins, 2007, p. 16); (Tapscott & Williams, 2006)"
    )
    labels = [c.label for c in find_citations(text)]
    assert labels == ["Dunleavy et al., 2005", "Fountain, 2001", "Borins, 2007, p. 16", "Tapscott & Williams, 2006"]


def _span(doc, needle):
    start = doc.text.index(needle)
    return start, start + len(needle)


def test_borins_chain_is_nested_in_pal():
    doc = seed_doc()
    start, end = _span(doc, "consolidates many common functions previously located separately in each department")
    speaker, pages, speaker_ref, chain = chain_for_span(doc, start, end)
    assert (speaker, pages) == ("Pal", "213-214")
    assert speaker_ref.startswith("Leslie Pal (2014), Beyond Policy Analysis")
    assert chain == "Borins (2007, p. 16), quoted in Pal (2014, pp. 213-214)"


def test_pal_own_words_have_a_single_link_chain():
    doc = seed_doc()
    start, end = _span(doc, "We do not go that far.")
    assert chain_for_span(doc, start, end)[3] == "Pal (2014, pp. 213-214)"
    assert cites_in_span(doc, start, end) == []


def test_parenthetical_citations_resolve_to_full_references():
    doc = seed_doc()
    cases = {
        "some (Dunleavy et al., 2005) see this as a new public service paradigm": "Dunleavy, P., et al. (2005)",
        "hierarchy (Fountain, 2001)": "Fountain, J. E. (2001)",
        "and citizens (Tapscott & Williams, 2006)": "Tapscott, D., & Williams, A. D. (2006)",
        "integrated support organizations” (Borins, 2007, p. 16)": "Borins, S. (2007). Conceptual framework.",
    }
    for needle, ref_start in cases.items():
        (cite,) = cites_in_span(doc, *_span(doc, needle))
        assert cite.reference.startswith(ref_start), needle


def test_reference_list_entries_are_not_citations():
    doc = seed_doc()
    refs = next(s for s in doc.sections if s.path == "References")
    assert cites_in_span(doc, refs.start, refs.end) == []
