"""`Atlas.ask_batch`: each question answered or refused on its own (the tiny deterministic embedder)."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest

from atlas_qa.config import Settings
from atlas_qa.core import Atlas, check_question
from atlas_qa.errors import AtlasError, QuestionError, StoreUnavailableError
from atlas_qa.types import Answer, error_json

GOOD = ["What are the de jure rules?", "Who argued that IT-enabled government consolidates functions?"]


@pytest.fixture
def atlas(corpus: Path, hash_settings: Settings) -> Atlas:
    atlas = Atlas(hash_settings.with_(corpus=corpus))
    atlas.ingest()
    return atlas


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (12345, "must be text, not a number"),
        (["a", "b"], "must be text, not a list"),
        (None, "must be text, not null"),
        ({"$ne": ""}, "must be text, not an object"),
        ("x \ud800", "lone surrogate"),
    ],
)
def test_questions_that_are_not_text_get_one_sentence(value: object, message: str) -> None:
    with pytest.raises(QuestionError, match=message) as caught:
        check_question(value)
    assert caught.value.status == 422 and str(caught.value).count(". ") == 0


def test_bad_items_are_refused_alone_and_the_rest_answered(atlas: Atlas) -> None:
    questions: list[object] = [GOOD[0], 12345, "x \ud800", ["a"], GOOD[1], GOOD[0], None]
    filters: list[object] = [None, None, None, None, None, {"course": 5}, None]
    out = atlas.ask_batch(questions, filters)
    assert out[0] == atlas.ask(GOOD[0]) and out[4] == atlas.ask(GOOD[1])
    assert all(isinstance(r, QuestionError) for i, r in enumerate(out) if i not in (0, 4))
    assert "filter 'course' must be text" in str(out[5])
    shown = error_json(questions[2], out[2])
    assert shown == {"question": "x \\ud800", "error": str(out[2]), "code": "invalid_question", "status": 422}


def test_a_question_that_breaks_the_encoder_fails_alone(atlas: Atlas, monkeypatch: pytest.MonkeyPatch) -> None:
    real = atlas.embedder.embed_batch

    def fussy(texts: list[str]) -> np.ndarray:
        if any("boom" in t for t in texts):
            raise RuntimeError("tokenizer crashed")
        return real(texts)

    monkeypatch.setattr(atlas.embedder, "embed_batch", fussy)
    out = atlas.ask_batch([GOOD[0], "boom goes the question", GOOD[1]])
    assert isinstance(out[0], Answer) and isinstance(out[2], Answer)
    assert isinstance(out[1], AtlasError) and "could not read this question" in str(out[1])


def test_an_unreachable_store_is_a_503_for_the_questions_that_needed_it(
    atlas: Atlas, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(*args: object, **kwargs: object) -> None:
        raise httpx.ConnectError("[Errno 111] Connection refused")

    monkeypatch.setattr(atlas.index, "dense_many", down)
    out = atlas.ask_batch([GOOD[0], "", GOOD[1]])
    assert isinstance(out[1], QuestionError)
    for r in (out[0], out[2]):
        assert isinstance(r, StoreUnavailableError) and r.status == 503
        assert str(r).startswith("The index store does not answer (ConnectError); try again in a minute")


def test_a_question_about_to_be_refused_is_searched_again_with_its_one_slip_put_right(
    corpus: Path, hash_settings: Settings
) -> None:
    atlas = Atlas(hash_settings.with_(corpus=corpus, refuse_below=3.0))  # every question is "about to be refused"
    atlas.ingest()
    slipped = atlas.ask("What are the de jure rlues?")
    assert slipped.searched == "What are the de jure rules?"
    assert atlas.ask("What are the de jure rules?").searched == "What are the de jure rules?"


def test_a_batch_makes_each_follow_up_stand_alone_once(atlas: Atlas, monkeypatch: pytest.MonkeyPatch) -> None:
    from atlas_qa import core

    first = atlas.ask(GOOD[0])
    calls: list[str] = []

    real = core.rewrite

    def counted(question, history, title=None):  # type: ignore[no-untyped-def]
        calls.append(question)
        return real(question, history, title)

    monkeypatch.setattr(core, "rewrite", counted)
    out = atlas.ask_batch(["Who enforces them?", "And who wrote them?"], histories=[[(GOOD[0], first)]] * 2)
    assert all(isinstance(a, Answer) for a in out) and sorted(calls) == ["And who wrote them?", "Who enforces them?"]
