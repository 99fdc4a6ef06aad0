import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atlas_qa.conversation import (
    Turn,
    central_person,
    context,
    history_from_json,
    key_words,
    persons_in,
    rewrite,
    topic_of,
)
from atlas_qa.errors import QuestionError
from atlas_qa.types import Answer, Citation, Cite, answer_json

from .conftest import BORINS_QUESTION

SEED_TITLE = "Digital technology and service delivery"
CHAIN = "Borins (2007, p. 16), quoted in Pal (2014, pp. 213-214)"


def _citation(speaker: str = "Pal", chain: str = "", cites: tuple[Cite, ...] = (), title: str = SEED_TITLE) -> Citation:
    return Citation(
        1, "p", title, "src", "Concept description", speaker, "213-214", cites, "text", 1.0, 0, 4, "", chain
    )


def _answer(question: str, text: str = "Text. [1]", refused: bool = False, **citation) -> Answer:  # type: ignore[no-untyped-def]
    if refused:
        return Answer(question, "The course material doesn't cover this.", True, ())
    return Answer(question, text, False, (_citation(**citation),))


PAL = [("What did Pal say about digital technology?", _answer("q", "Pal writes that the digital state differs. [1]"))]
NPM = [("What is New Public Management?", _answer("q", "See also: New Public Management. [1]"))]
# The first source's speaker is someone else (as on a textbook page that quotes Marx): the question named Locke.
LOCKE = [
    (
        "What did Locke argue about the state of nature?",
        _answer("q", "Locke believed that a society would emerge. [1]", speaker="Marx", title="Classical Liberalism"),
    )
]
BORINS = [
    (
        BORINS_QUESTION,
        _answer(
            "q",
            "“According to Borins, “The most significant change ... in each department. [1]",
            chain=CHAIN,
            cites=(Cite("Borins, 2007, p. 16", "Borins, S. (2007). Conceptual framework."),),
        ),
    )
]
FEDERALISM = [("What is federalism?", None)]


@pytest.mark.parametrize(
    ("history", "question", "expected"),
    [
        # Examples of issue 13.
        (NPM, "when was it last modified", f"when was the page “{SEED_TITLE}” last modified"),
        (LOCKE, "What did he say about revolution?", "What did Locke say about revolution?"),
        (
            BORINS,
            "What did he say about rule-bound bureaucracies?",
            "What did Borins say about rule-bound bureaucracies?",
        ),
        # he/she/his/her: the person; it/this/that/its: the topic, in the question's own words.
        (LOCKE, "Why is it important?", "Why is the state of nature important?"),
        (LOCKE, "What did Hobbes say about it?", "What did Hobbes say about the state of nature?"),
        (LOCKE, "Why does that matter?", "Why does the state of nature matter?"),
        (LOCKE, "Tell me about his book.", "Tell me about Locke's book."),
        (LOCKE, "What is her argument?", "What is Locke's argument?"),
        (LOCKE, "Who criticized him?", "Who criticized Locke?"),
        (FEDERALISM, "What are its main drawbacks?", "What are the main drawbacks of federalism?"),
        (FEDERALISM, "Can you give an example of it?", "Can you give an example of federalism?"),
        (FEDERALISM, "Who came up with this idea?", "Who came up with the idea of federalism?"),
        (FEDERALISM, "What is the origin of this term?", "What is the origin of the term “federalism”?"),
        (FEDERALISM, "It changed what?", "Federalism changed what?"),
        # they: the persons or group the question named, else a plural topic.
        ([("What are de jure rules?", None)], "Who enforces them?", "Who enforces de jure rules?"),
        ([("Compare realism and liberalism", None)], "How do they differ?", "How do realism and liberalism differ?"),
        (
            [("Why did the Soviets send missiles to Cuba?", None)],
            "Why did they do it?",
            "Why did the Soviets send missiles to Cuba?",
        ),
        (
            [("What are the Bretton Woods institutions?", None)],
            "Why were they created?",
            "Why were the Bretton Woods institutions created?",
        ),
        (
            [("What is modernization theory?", None)],
            "What are the criticisms of this theory?",
            "What are the criticisms of modernization theory?",
        ),
        # Questions about the page itself.
        (NPM, "Who wrote this page?", f"Who wrote the page “{SEED_TITLE}”?"),
        (NPM, "What course is it in?", f"What course is the page “{SEED_TITLE}” in?"),
        # "who argued that X": the topic is X.
        (
            [("Who argued that humans are political animals?", _answer("q", "Aristotle argued that humans were. [1]"))],
            "What did he mean by that?",
            "What did Aristotle mean by humans are political animals?",
        ),
    ],
)
def test_a_question_that_cannot_stand_alone_is_rewritten(history, question, expected):
    assert rewrite(question, history) == expected


@pytest.mark.parametrize(
    ("history", "question"),
    [
        (PAL, "How can citizens get access to their personal information?"),  # "their" = citizens (issue 13)
        (LOCKE, "What did the philosopher say about his critics?"),  # "his" = the philosopher
        (LOCKE, "Why did Hobbes think his ruler was needed?"),  # "his" = Hobbes
        (FEDERALISM, "What is a confederation and how does it differ?"),  # "it" = a confederation
        (FEDERALISM, "Is it true that Canada is federal?"),  # "it" points ahead
        (FEDERALISM, "Why is it important to vote?"),
        (LOCKE, "Who argued that the state is necessary?"),  # "that" introduces a clause
        (LOCKE, "Is that rule important?"),  # "that" is a determiner
        (LOCKE, "What is the rule that is used?"),  # "that" is a relative pronoun
        (LOCKE, "What are de jure rules?"),  # no pronoun at all
        (FEDERALISM, "What did he say?"),  # nobody to refer to: left as typed
        (LOCKE, "What did Marx say about capitalism?"),  # a new person, no pronoun
        # Issue 25: the acronym IT, and "it" inside a compound, are not pronouns.
        (PAL, "What does Borins say IT-enabled government changes?"),
        (BORINS, "What does Borins say IT-enabled government changes?"),
        ([*NPM, ("when was it last modified", None)], "What does Borins say IT-enabled government changes?"),
        (LOCKE, "How has IT changed government?"),
        (LOCKE, "Is HE funding part of THIS course?"),
        (LOCKE, "What does Borins say it-enabled government changes?"),
        (LOCKE, "Is a he-said-she-said dispute political?"),
    ],
)
def test_a_question_that_stands_alone_is_kept(history, question):
    assert rewrite(question, history) == question


@settings(max_examples=200, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ ,.?'’-0123456789"), max_size=200
    )
)
def test_only_a_referring_word_changes_a_question(question):
    history = [*LOCKE, *NPM, ("What are de jure rules?", None)]
    searched = rewrite(question, history)
    words = {w.lower() for w in re.findall(r"[A-Za-z]+", question)}
    referring = {"he", "she", "him", "his", "himself", "her", "hers", "herself", "they", "them", "their", "theirs"}
    if not words & (referring | {"themselves", "it", "its", "itself", "this", "that"}):
        assert searched == question


_NOT_PRONOUNS = ["IT", "HE", "THEY", "THIS", "ITS", "it-enabled", "IT-enabled", "self-it", "he-man", "this-worldly"]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from([*_NOT_PRONOUNS, "What", "did", "Borins", "say", "about", "government", "changes", "the", "?"]),
        max_size=12,
    )
)
def test_a_word_that_is_not_a_pronoun_is_never_rewritten(words):
    """An acronym (IT, HE) or a word inside a compound ("it-enabled") is never taken for a pronoun (issue 25)."""
    question = " ".join(["What", "did", *words])  # a question typed in capitals ("WHAT IS IT?") has pronouns
    for history in (BORINS, [*NPM, ("when was it last modified", None)], FEDERALISM):
        assert rewrite(question, history) == question


def test_only_the_last_turns_count():
    old = [*LOCKE, *[("What are de jure rules?", None)] * 10]
    assert rewrite("What did he say?", old) == "What did he say?"  # Locke is eleven turns back
    assert rewrite("What did he say?", old[:10]) == "What did Locke say?"


def test_without_history_the_question_is_unchanged():
    assert rewrite("What did he say about it?", []) == "What did he say about it?"


def test_follow_ups_chain_person_and_topic():
    history = [*LOCKE, ("What did he say about revolution?", LOCKE[0][1])]
    assert rewrite("Why did he think it was justified?", history) == "Why did Locke think revolution was justified?"
    history.append(("Why is it important?", None))
    assert rewrite("And what did he say about property?", history) == "And what did Locke say about property?"


def test_a_new_person_replaces_the_old_one_and_refused_turns_keep_the_person():
    history = [*LOCKE, ("What did Hobbes argue about the sovereign?", None)]
    assert rewrite("What did he say about it?", history) == "What did Hobbes say about the sovereign?"
    refused = [*BORINS, ("What about Web 2.0 in Japan?", _answer("q", refused=True))]
    assert rewrite("What did he write?", refused) == "What did Borins write?"
    tocqueville = [("What did Tocqueville write about self-government in America?", None)]
    assert rewrite("Which book did he write it in?", tocqueville) == (
        "Which book did Tocqueville write self-government in America in?"  # "which book" is not about the page
    )


SEED_ID = "atlas107/digital-technology-and-service-delivery.txt"
# The answer to a concept the course only links to ("See also"): no citation, the page to read listed.
RELATED = Answer("q", "The course mentions “New Public Management” only as a related concept.", True, (), (SEED_ID,))


def test_a_refusal_that_lists_pages_gives_the_page_to_a_page_question():
    history = [("What is New Public Management?", RELATED)]
    titles = {SEED_ID: SEED_TITLE}.get
    assert rewrite("when was it last modified", history, titles) == f"when was the page “{SEED_TITLE}” last modified"
    assert rewrite("Who wrote this page?", history) == f"Who wrote the page “{SEED_ID}”?"  # no titles: its id
    assert rewrite("Why does it matter?", history, titles) == "Why does New Public Management matter?"


def test_turns_and_pairs_are_the_same_history():
    pairs = LOCKE + [("What did he say about revolution?", None)]
    assert context(pairs) == context([Turn(q, a) for q, a in pairs])


def test_the_person_of_an_answer_is_the_one_it_is_most_about():
    assert central_person(BORINS[0][1]) == "Borins"  # named in the answer, innermost speaker, cited
    assert central_person(PAL[0][1]) == "Pal"
    footnote = Cite("[^2]", "John Locke, The Second Treatise of Government, ch. 4.")
    assert (
        central_person(_answer("q", "The state of nature is a thought experiment. [1]", speaker="", cites=(footnote,)))
        == "Locke"
    )
    assert central_person(_answer("q", "Rules matter. [1]", speaker="")) == ""
    assert central_person(_answer("q", refused=True)) == ""


def test_persons_topics_and_key_words():
    assert persons_in("What did Locke argue about the state of nature?") == ["Locke"]
    assert persons_in("According to Borins, what changed?") == ["Borins"]
    assert persons_in("What is New Public Management?") == []
    assert persons_in("Tell me about Pal", known=["Pal"]) == ["Pal"]
    assert topic_of("What is federalism and why is it important?") == "federalism"
    assert topic_of("Explain de facto rules") == "de facto rules"
    assert key_words("What did Pal say about the rules and the RULES?") == ["Pal", "rules"]


def test_history_from_json_takes_answers_or_plain_questions():
    answer = BORINS[0][1]
    turns = history_from_json([{"question": BORINS_QUESTION, "answer": answer_json(answer)}, "What is federalism?"])
    assert turns[0].answer is not None and turns[0].answer.citations == answer.citations
    assert turns[1] == Turn("What is federalism?")
    assert rewrite("What did he say about rule-bound bureaucracies?", turns[:1]) == (
        "What did Borins say about rule-bound bureaucracies?"
    )
    assert rewrite("Why does it matter?", history_from_json(["What is federalism?"])) == "Why does federalism matter?"


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"question": "x"}, "must be a list"),
        ([3], "history[0] must be a question"),
        ([{"question": "x", "answer": "text"}], "history[0].answer must be an answer object"),
        ([{"question": "x", "answer": {"citations": []}}], 'history[0].answer needs the "answer" text'),
        ([{"question": "x", "answer": {"answer": "a", "citations": [{"n": "one"}]}}], "is not an answer"),
    ],
)
def test_history_from_json_rejects_other_shapes_clearly(bad, message):
    with pytest.raises(QuestionError, match=re.escape(message)):
        history_from_json(bad)


# -- Atlas.ask(question, history=...) with the hash embedder on tests/data ----------------------------------------


@pytest.fixture
def atlas(corpus, hash_settings):  # type: ignore[no-untyped-def]
    from atlas_qa.core import Atlas

    atlas = Atlas(hash_settings.with_(corpus=corpus))
    atlas.ingest()
    return atlas


def test_ask_with_history_searches_the_standalone_question_and_says_so(atlas):
    first = atlas.ask(BORINS_QUESTION)
    assert first.searched == first.question == BORINS_QUESTION
    assert central_person(first) == "Borins"
    follow_up = "What did he say about rule-bound bureaucracies?"
    answer = atlas.ask(follow_up, history=[Turn(BORINS_QUESTION, first)])
    assert answer.question == follow_up
    assert answer.searched == "What did Borins say about rule-bound bureaucracies?"
    assert answer_json(answer)["searched"] == answer.searched
    direct = atlas.ask(answer.searched)
    assert (answer.answer, answer.citations) == (direct.answer, direct.citations)


def test_ask_looks_up_the_title_of_a_page_known_by_id(atlas):
    answer = atlas.ask("when was it last modified", history=[("What is New Public Management?", RELATED)])
    assert answer.searched == f"when was the page “{SEED_TITLE}” last modified"


def test_ask_with_history_keeps_a_question_that_stands_alone(atlas):
    first = atlas.ask("What did Pal say about digital technology?")
    question = "How can citizens get access to their personal information?"
    answer = atlas.ask(question, history=[("What did Pal say about digital technology?", first)])
    assert answer.searched == question
    assert answer_json(answer)["searched"] == question


def test_ask_batch_takes_a_history_per_question(atlas):
    first = atlas.ask("What are de jure rules?")
    history = [Turn("What are de jure rules?", first)]
    questions = ["Who enforces them?", "Who enforces them?", "  "]
    batch = atlas.ask_batch(questions, histories=[history, None, history])
    assert batch[0].searched == "Who enforces de jure rules?"  # type: ignore[union-attr]
    assert batch[1].searched == "Who enforces them?"  # type: ignore[union-attr]
    assert isinstance(batch[2], QuestionError)
    single = atlas.ask("Who enforces them?", history=history)
    assert (batch[0].answer, batch[0].citations) == (single.answer, single.citations)  # type: ignore[union-attr]


def test_when_was_it_published_answers_with_the_pages_last_modified_line(atlas):
    """Issue 25: after a question, "when was it published?" is about the page the answer quoted: its own line."""
    first = atlas.ask("What is Web 2.0 governance?")
    answer = atlas.ask("when was it published?", history=[Turn("What is Web 2.0 governance?", first)])
    assert answer.searched == f"when was the page “{first.citations[0].title}” published?"
    assert answer.answer == "Page created by: Ian Clark, last modified 12 April 2017. [1]"
