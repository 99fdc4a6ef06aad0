"""Follow-up questions made standalone before retrieval: "what did he say about it?" -> "what did Pal say about ...".

Retrieval sees one question at a time, so a follow-up's pronouns are replaced with what they most likely refer to:
he/she/they (and him, his, her, their, ...) with the speaker of the previous answer's first citation, and
it/this/that with the key words of the previous question. Pure functions over the conversation so far.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .types import Answer

Turn = tuple[str, Answer | None]  # (question as typed, its answer; None when the question failed)

# Personal pronouns -> the speaker; the possessive ones take "'s".
_POSSESSIVE = frozenset({"his", "their", "theirs", "hers"})
_PERSON = frozenset({"he", "she", "they", "him", "them"}) | _POSSESSIVE
# "her" is possessive before a noun ("her argument") and an object otherwise ("about her").
_OBJECT_FOLLOWERS = frozenset(
    """say said says write wrote writes argue argued argues mean meant and or but about on in to for with by from of at
    as than""".split()
) | {""}
# Words after "this"/"that" that show it stands alone ("does that mean", "is this true") rather than being a
# determiner ("this rule") or a conjunction ("argued that IT ...").
_PRONOUN_FOLLOWERS = frozenset(
    """is was are were be been mean means meant refer refers relate relates apply applies matter matters have has had do
    does did work works affect affects differ differs change changes happen happened happens lead leads led imply
    implies come came compare true important relevant about in for with to from by of on and or but so then again here
    there exactly also still""".split()
) | {""}
# Verbs after which "that" introduces a clause ("argued that ..."), never a pronoun.
_CLAUSE_VERBS = frozenset(
    """argue argued argues say said says claim claimed claims think thinks thought believe believed believes show showed
    shows suggest suggested suggests write wrote writes note noted notes state stated states mean means meant so such
    know knew find found conclude concluded concludes""".split()
)
_THING = {"it": "", "this": "", "that": "", "its": "'s"}

# Words that carry no topic: question words, function words, pronouns and verbs of saying.
STOPWORDS = frozenset(
    """a an the and or but nor so yet if then than as of at by for from in into on onto to up with about above after
    against among around before behind below beneath beside between beyond during except inside near off out outside
    over past since through throughout till toward towards under until upon within without via per
    is am are was were be been being do does did doing done have has had having can could shall should will would may
    might must ought need needs
    i me my mine myself you your yours yourself we us our ours ourselves he him his himself she her hers herself it
    its itself they them their theirs themselves this that these those there here
    what which who whom whose when where why how whether
    not no yes very too also just only even more most much many some any each every all both either neither other
    another such own same few less least
    say said says tell told tells explain explained explains describe described describes discuss discussed
    discusses mean meant means argue argued argues claim claimed claims think thought thinks write wrote writes
    written state stated states according course material please""".split()
)

_WORD = re.compile(r"[A-Za-z0-9][\w'’\-]*")
_PRONOUN = re.compile(
    r"\b(he|she|they|him|them|his|her|hers|their|theirs|it|its|this|that)\b(?=(\W*)([A-Za-z'’\-]*))", re.I
)


def key_words(question: str) -> list[str]:
    """The question's content words in order, as typed, without repeats: its topic for a follow-up."""
    seen: set[str] = set()
    words = []
    for w in _WORD.findall(question):
        w = w.rstrip("'’-")
        low = w.lower()
        if low in STOPWORDS or low in seen or len(w) < 2:
            continue
        seen.add(low)
        words.append(w)
    return words


def last_speaker(history: Sequence[Turn]) -> str:
    """The speaker of the first citation of the latest answer that has one ("Pal"), else ""."""
    for _, answer in reversed(history):
        if answer is not None and not answer.refused and answer.citations and answer.citations[0].speaker:
            return answer.citations[0].speaker
    return ""


def last_topic(history: Sequence[Turn]) -> str:
    """The key words of the previous question, in the standalone form it was asked (so follow-ups chain)."""
    for question, answer in reversed(history):
        asked = answer.question if answer is not None and answer.question else question
        words = key_words(asked)
        if words:
            return " ".join(words)
    return ""


def rewrite(question: str, history: Sequence[Turn]) -> str:
    """The follow-up `question` made standalone with the context of the previous turns (oldest first).

    he/she/they/him/his/her/their... become the previous answer's first cited speaker; it/this/that/its become the
    previous question's key words. A question without such pronouns, or without history, is returned unchanged.

    Args:
        question: the question as typed.
        history: the previous (question, Answer) turns; an Answer may be None for a failed turn.

    Returns:
        The question to retrieve with.
    """
    if not history:
        return question
    speaker, topic = last_speaker(history), last_topic(history)

    def replace(m: re.Match[str]) -> str:
        word, gap, following = m.group(1), m.group(2), m.group(3).lower()
        low = word.lower()
        before = question[: m.start()].split()
        previous = before[-1].lower().strip(",;:") if before else ""
        if low in _PERSON or low == "her":
            if not speaker:
                return word
            if low == "her":
                return speaker if following in _OBJECT_FOLLOWERS or gap.strip() else speaker + "'s"
            return speaker + ("'s" if low in _POSSESSIVE else "")
        if not topic:
            return word
        if low in ("this", "that"):
            standalone = following in _PRONOUN_FOLLOWERS or bool(gap.strip())
            if not standalone or (low == "that" and previous in _CLAUSE_VERBS):
                return word
        return topic + _THING[low]

    return _PRONOUN.sub(replace, question)
