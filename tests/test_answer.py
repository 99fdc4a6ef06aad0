import re
from dataclasses import replace
from pathlib import Path

import pytest

from atlas_qa.answer import REFUSAL, verify
from atlas_qa.core import Atlas, check_question
from atlas_qa.errors import IndexNotFoundError, QuestionError


@pytest.fixture
def atlas(corpus: Path, hash_settings) -> Atlas:
    a = Atlas(hash_settings)
    a.ingest([corpus])
    return a


def _docs(atlas, answer):
    return {c.page_id: atlas.index.document(c.page_id) for c in answer.citations}


def test_answer_sentences_are_verbatim_and_marked(atlas: Atlas):
    answer = atlas.ask("What are the de jure rules and the de facto rules?")
    assert not answer.refused
    pieces = re.findall(r"(.+?) \[(\d+)\](?:\s|$)", answer.answer)
    assert pieces and len(pieces) <= 3
    numbers = {c.n for c in answer.citations}
    for text, n in pieces:
        assert int(n) in numbers
        cit = next(c for c in answer.citations if c.n == int(n))
        page = atlas.index.document(cit.page_id).text
        plain = re.sub(r"\[\^\w+\]", "", page.replace("**", ""))
        assert " ".join(text.split()) in " ".join(plain.split())


def test_citation_spans_point_into_the_page(atlas: Atlas):
    answer = atlas.ask("What are the de jure rules?")
    for c in answer.citations:
        page = atlas.index.document(c.page_id).text
        assert c.text in page
        assert page[c.start : c.end] in c.text


def test_verifier_drops_sentences_not_in_the_page(atlas: Atlas):
    answer = atlas.ask("What are the de jure rules?")
    forged = replace(answer, answer=answer.answer + " The moon is made of cheese. [1]")
    checked = verify(forged, _docs(atlas, answer))
    assert "cheese" not in checked.answer
    assert checked.answer == answer.answer


def test_verifier_drops_markers_that_point_nowhere(atlas: Atlas):
    answer = atlas.ask("What are the de jure rules?")
    first = re.match(r"(.+?) \[\d+\]", answer.answer).group(1)
    forged = replace(answer, answer=f"{first} [99]")
    checked = verify(forged, _docs(atlas, answer))
    assert checked.refused and checked.answer == REFUSAL


def test_refusal_lists_closest_pages(atlas: Atlas):
    strict = Atlas(atlas.settings.with_(refuse_below=1.01))
    answer = strict.ask("What are the de jure rules?")
    assert answer.refused and answer.answer == REFUSAL and not answer.citations
    assert answer.closest_pages


@pytest.mark.parametrize(
    ("question", "message"),
    [("", "type a question"), ("   ", "type a question"), ("?!…", "no words"), ("x" * 100_000, "limit is")],
)
def test_bad_questions_get_clear_messages(question, message):
    with pytest.raises(QuestionError, match=message):
        check_question(question)


def test_asking_an_empty_index_says_to_ingest(hash_settings):
    with pytest.raises(IndexNotFoundError, match="atlas-qa ingest"):
        Atlas(hash_settings).ask("What is politics?")


def test_ask_batch_matches_single_asks_and_keeps_errors_apart(atlas: Atlas):
    questions = ["What are the de jure rules?", "", "Who argued that IT-enabled government consolidates functions?"]
    filters = [None, None, {"course": "Atlas107"}]
    batch = atlas.ask_batch(questions, filters)
    assert isinstance(batch[1], QuestionError)
    assert batch[0] == atlas.ask(questions[0])
    assert batch[2] == atlas.ask(questions[2], filters=filters[2])
    assert all(c.page_id.startswith("atlas107/") for c in batch[2].citations)
