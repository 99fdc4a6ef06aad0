import pytest

from atlas_qa.conversation import key_words, last_speaker, rewrite
from atlas_qa.types import Answer, Citation

BORINS_Q = (
    "Who argued that IT-enabled government could consolidate functions previously located separately in each "
    "department?"
)
TOPIC = "IT-enabled government consolidate functions previously located separately department"


def _answer(question: str, speaker: str = "Pal", refused: bool = False) -> Answer:
    cit = Citation(1, "p", "Page", "src", "Sec", speaker, "213-214", (), "text", 1.0, 0, 4)
    return Answer(
        question,
        "The course material doesn't cover this." if refused else "Text. [1]",
        refused,
        () if refused else (cit,),
    )


HISTORY = [(BORINS_Q, _answer(BORINS_Q))]


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("What did he say about rules?", "What did Pal say about rules?"),
        ("What did she say about it?", f"What did Pal say about {TOPIC}?"),
        ("Tell me about his book.", "Tell me about Pal's book."),
        ("What is her argument?", "What is Pal's argument?"),
        ("Did they quote anyone?", "Did Pal quote anyone?"),
        ("Why does that matter?", f"Why does {TOPIC} matter?"),
        ("Is this true?", f"Is {TOPIC} true?"),
        ("What are its consequences?", f"What are {TOPIC}'s consequences?"),
        ("It changed what?", f"{TOPIC} changed what?"),
    ],
)
def test_pronouns_become_the_speaker_or_the_previous_topic(question, expected):
    assert rewrite(question, HISTORY) == expected


@pytest.mark.parametrize(
    "question",
    [
        "Who argued that rules matter?",  # "that" introduces a clause
        "Is that rule important?",  # "that" is a determiner
        "What are de jure rules?",  # no pronoun at all
    ],
)
def test_words_that_refer_to_nothing_are_kept(question):
    assert rewrite(question, HISTORY) == question


def test_without_history_the_question_is_unchanged():
    assert rewrite("What did he say about it?", []) == "What did he say about it?"


def test_follow_ups_chain_through_the_standalone_question():
    first = "What did he say about rule-bound bureaucracies?"
    asked = rewrite(first, HISTORY)
    history = [*HISTORY, (first, _answer(asked))]
    assert rewrite("Why does it matter?", history) == "Why does Pal rule-bound bureaucracies matter?"


def test_speaker_comes_from_the_latest_answer_that_has_one():
    history = [
        (BORINS_Q, _answer(BORINS_Q, "Borins")),
        ("What about Web 2.0?", _answer("What about Web 2.0?", refused=True)),
        ("Broken question", None),
    ]
    assert last_speaker(history) == "Borins"
    assert rewrite("What did he write?", history) == "What did Borins write?"


def test_no_speaker_leaves_personal_pronouns_alone():
    history = [("What are rules?", _answer("What are rules?", speaker=""))]
    assert rewrite("What did he say about it?", history) == "What did he say about rules?"


def test_a_failed_turn_still_gives_its_question_as_the_topic():
    assert rewrite("Tell me more about it.", [("Explain de facto rules", None)]) == "Tell me more about de facto rules."


def test_key_words_drop_question_and_function_words():
    assert key_words(BORINS_Q) == TOPIC.split()
    assert key_words("What did Pal say about the rules and the RULES?") == ["Pal", "rules"]
