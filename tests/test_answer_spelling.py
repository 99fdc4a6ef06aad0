from atlas_qa.answer import respell
from atlas_qa.lexical import LexicalIndex

COURSE = LexicalIndex(
    [
        "Henry Dunant founded the Red Cross to aid soldiers injured in war; he started it in 1863.",
        "The cores of the state and the crossing of borders.",
        "The cross appears again: the Red Cross, a cross.",
        "Bureaucracy is rule by desks.",
        "Party cores and state cores.",
        "The cores again.",
    ]
)


def test_one_misspelled_word_is_put_right_with_the_course_word_one_swap_away():
    # "cores" (one letter changed) is used on more pages than "cross" (two letters swapped): a swap is the likelier slip
    assert respell("who started the red corss and why?", COURSE.idf) == "who started the red cross and why?"


def test_a_question_the_course_knows_every_word_of_is_unchanged():
    assert respell("who founded the Red Cross?", COURSE.idf) == "who founded the Red Cross?"


def test_several_unknown_words_mean_another_subject_and_nothing_is_changed():
    q = "how long should I boil an egg for a runny yolk in the red corss?"
    assert respell(q, COURSE.idf) == q


def test_names_short_words_and_words_without_a_close_neighbour_stay_as_typed():
    assert respell("what did Dunamt found?", COURSE.idf) == "what did Dunamt found?"  # a capitalised name
    assert respell("the red crss", COURSE.idf) == "the red crss"  # shorter than five letters
    assert respell("what is beaurocracy", COURSE.idf) == "what is beaurocracy"  # more than one edit away


def test_the_word_put_right_is_one_the_course_writes_not_only_one_with_its_stem():
    course = LexicalIndex(["Voters use heuristics: shortcuts for voting.", "Heuristics help voters decide."])
    # "heuristes" has the stem of "heuristics" and is one edit from the slip: only the course's own word will do
    assert respell("what are voting heuristcs?", course.idf) == "what are voting heuristes?"
    assert respell("what are voting heuristcs?", course.idf, course.words) == "what are voting heuristics?"
    assert "heuristics" in course.words and "heuristes" not in course.words


def test_a_real_word_the_course_never_writes_stays_as_typed():
    course = LexicalIndex(["Did small donors give a big share of the money?", "Chuck Schumer said they did."])
    q = "did small donors give a big chunk of the money?"
    assert respell(q, course.idf, course.words) == "did small donors give a big chuck of the money?"  # the slip
    # a word the embedding model reads whole (`Embedder.knows`) is a word, not a slip
    assert respell(q, course.idf, course.words, known={"chunk"}.__contains__) == q
    slip = "did small donors give a big chunck of the money?"
    assert respell(slip, course.idf, course.words, known={"chunk"}.__contains__) == slip.replace("chunck", "chuck")
