from atlas_qa.attribution import chain_for_span, cites_in_span, find_citations, parse_reference

from .loaders.builders import seed_doc


def test_parse_reference_surnames_and_year():
    ref = parse_reference("Tapscott, D., & Williams, A. D. (2006). Wikinomics: How mass collaboration.", "r")
    assert ref.authors == ("Tapscott", "Williams") and ref.year == "2006"
    ref = parse_reference("Leslie Pal (2014), Beyond Policy Analysis – Public Issue Management, Fifth Edition", "r")
    assert ref.authors == ("Pal",) and ref.year == "2014"
    # the year last (Chicago): the title's words are not authors
    ref = parse_reference("Gilley, Bruce. The Right to Rule: How States Win and Lose Legitimacy. New York, 2009.", "r")
    assert ref.authors == ("Gilley", "Bruce") and ref.year == "2009"
    ref = parse_reference("Rudy, Lisa Jo. “What Is Atman in Hinduism?” Learn Religions, June 29, 2019.", "r")
    assert "What" not in ref.authors and ref.authors[0] == "Rudy" and ref.year == "2019"
    ref = parse_reference(
        "Black, S. R., Spence, S. A., & Omari, S. R. (2004). Contributions of African Americans.", "r"
    )
    assert ref.authors == ("Black", "Spence", "Omari")


def test_a_lowercase_question_names_an_author_only_as_the_page_writes_a_name():
    """ "according to weber" names Weber; "how" does not name an author called How, though a title in the reference
    list ("How States Win and Lose Legitimacy") put it among the entry's names."""
    from atlas_qa.answer.terms import named_author
    from atlas_qa.types import Document, Reference

    text = (
        "Max Weber argued that the Protestant ethic shaped capitalism, as Weber wrote in 1905. "
        "How people work changed. Scholars still ask how it changed.\n\n## References\n\nWeber, M. (1905). The "
        "Protestant Ethic.\n\nHow, A. (2001). Work.\n"
    )
    refs = (
        Reference("ref1", "Weber, M. (1905). The Protestant Ethic.", ("Weber",), "1905"),
        Reference("ref2", "How, A. (2001). Work.", ("How",), "2001"),
    )
    doc = Document(page_id="p", title="T", text=text, source="p.md", format="markdown", references=refs)
    assert named_author("why did people work harder according to weber", [doc]) == "Weber"
    assert named_author("how long should i boil an egg", [doc]) == ""
    assert named_author("How did How study work?", [doc]) == "How"  # typed with a capital: taken as written
    assert named_author("what did fountain warn about?", [seed_doc()]) == "Fountain"  # cited only "(Fountain, 2001)"


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
