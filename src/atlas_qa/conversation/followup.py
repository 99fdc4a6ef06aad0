"""Follow-ups made standalone: the conversation's referents (`Context`) and the pronouns resolved with them."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..errors import QuestionError
from ..types import Answer, answer_from_json
from .reading import SAYING, STOPWORDS, WORD, central_person, persons_in, topic_of


@dataclass(frozen=True)
class Turn:
    """One earlier question of a conversation, as typed, and its answer (None when it failed or is unknown)."""

    question: str
    answer: Answer | None = None


History = Sequence["Turn | tuple[str, Answer | None]"]
MAX_TURNS = 10  # what a follow-up can refer to comes from the last turns; bounds the work on a long conversation


@dataclass(frozen=True)
class Context:
    """What the conversation so far is about: the referents a follow-up's pronouns can take."""

    persons: tuple[str, ...] = ()  # he/she -> persons[0]; they -> all of them
    named: bool = False  # the persons were named in the question (then "they" means them, not a plural topic)
    group: str = ""  # a group the question named ("the Soviets"): they/them
    topic: str = ""  # it/this/that
    page: str = ""  # the title of the page the previous answer quoted first
    page_id: str = ""  # its id (a refusal lists only the ids of the closest pages; `rewrite` looks the title up)


# Verbs after which "that" introduces a clause ("argued that ..."), never a pronoun.
_CLAUSE_VERBS = frozenset(SAYING.split("|")) | {"so", "such", "know", "knew", "find", "found", "conclude", "show"}
_PERSON_NOUNS = frozenset(
    """author authors writer writers philosopher philosophers thinker thinkers scholar scholars scientist scientists
    president presidents king kings queen queens leader leaders minister ministers judge judges man men woman women
    person people citizen citizens voter voters politician politicians official officials child children""".split()
)
# Nouns that ask for more about something else ("an example of it"): never what it/this refers to.
_REQUEST_NOUNS = frozenset(
    "example examples instance instances detail details explanation definition meaning summary overview sense".split()
)
# Words after which a noun starts a noun phrase ("the state", "can citizens"): what a later pronoun can refer to.
_DETERMINERS = frozenset(
    """a an the this that these those of about is are was were does do did can could should would will may might must
    in on for with and or between my your our his her its their what's to from by""".split()
)
_PAGE_NOUNS = frozenset("page article text reading section chapter entry".split())
_TOPIC_NOUNS = frozenset("concept idea theory topic argument view approach notion principle debate".split())
_TERM_NOUNS = frozenset("term word phrase expression".split())
# A question about the page itself: when it was written or changed, who wrote it, where it belongs.
_PAGE_QUESTION = re.compile(
    r"\b(?:when\b.*\b(?:modified|updated|changed|written|created|published|posted|edited|revised)|who\s+(?:wrote|"
    r"created|authored|made|edited|updated|modified|writes)\b|(?:what|which)\s+(?:topic|course|subject|chapter|"
    r"unit|module)\b|(?:last\s+)?(?:modified|updated)\s+when)",
    re.I,
)
# "Is it true that ...", "Why is it important to vote?": "it" points ahead, not back.
_EXPLETIVE = re.compile(
    r"\b(?:it\s+(?:is|was|'s|’s|seems|seemed)\s+(?:\w+\s+){0,2}|(?:is|was|isn't|wasn't)\s+it\s+(?:\w+\s+){1,2})"
    r"(?:to|that|for|whether|if)\s+\w+",
    re.I,
)
# Words after "this"/"that" that show it stands alone ("does that mean", "is this true") rather than being a
# determiner ("this rule") or a conjunction ("argued that IT ...").
_PRONOUN_FOLLOWERS = frozenset(
    """is was are were be been mean means meant refer refers relate relates apply applies matter matters have has had do
    does did work works affect affects differ differs change changes happen happened happens lead leads led imply
    implies come came compare true important relevant about in for with to from by of on and or but so then again here
    there exactly also still""".split()
) | {""}
# "her" before these is an object ("about her"), else a possessive ("her argument").
_OBJECT_FOLLOWERS = frozenset(
    "say said says write wrote writes argue argued argues mean meant and or but about on in to for with by from of at "
    "as than".split()
) | {""}

_REFERRING = re.compile(
    r"\b(he|she|him|his|himself|her|hers|herself|they|them|their|theirs|themselves|it|its|itself|this|that)\b"
    r"(?=(\W*)([A-Za-z'’\-]*))",
    re.I,
)
_JOINERS = ("-", "‐", "‑", "_")  # a word joined to another by one of these is part of a compound (not "")
_MALE_FEMALE = {"he", "she", "him", "his", "himself", "her", "hers", "herself"}
_PLURAL = {"they", "them", "their", "theirs", "themselves"}


def _action(topic: str, subjects: Sequence[str]) -> str:
    """What a subject did in the topic ("send missiles to Cuba" from "the Soviets send missiles to Cuba"), else ""."""
    for subject in subjects:
        if subject and topic.startswith(subject + " ") and topic[len(subject) + 1 :][:1].islower():
            return topic[len(subject) + 1 :]
    return ""


def _is_plural(phrase: str) -> bool:
    last = phrase.split()[-1].lower() if phrase.split() else ""
    return " and " in phrase or (last.endswith("s") and not last.endswith(("ss", "us", "is", "ics")))


def _names_a_person(before: list[str]) -> bool:
    """Whether the words before a he/she name someone it can refer to (a name or a person noun)."""
    for i, w in enumerate(before):
        if w.lower() in _PERSON_NOUNS or (w[:1].isupper() and i > 0 and w.lower() not in STOPWORDS):
            return True
    return False


def _names_a_group(before: list[str]) -> bool:
    """Whether the words before a they/them/their name something plural it can refer to ("can citizens")."""
    return any(
        w.lower() not in STOPWORDS
        and (prev.lower() in _DETERMINERS or (w[:1].isupper() and prev))
        and (_is_plural(w) or w.lower() in _PERSON_NOUNS or w[:1].isupper())
        for prev, w in zip(["", *before], before)
    )


def _names_a_thing(before: list[str], persons: Sequence[str]) -> bool:
    """Whether the words before an it/this/that name a thing it can refer to: a noun after a determiner that is not a
    person, a plural or a request ("an example of it")."""
    for prev, w in zip(["", *before], before):
        low = w.lower()
        if prev.lower() not in _DETERMINERS or low in STOPWORDS or low in _REQUEST_NOUNS or low in _PERSON_NOUNS:
            continue
        if _is_plural(w) or any(w in p.split() for p in persons):
            continue
        return True
    return False


def _possessive(name: str, person: bool, following: str) -> tuple[str, int]:
    """`name` as a possessive before the noun phrase `following`: "Locke's" for a person, else "the consequences of
    federalism" (with how many characters of `following` it took over)."""
    if person:
        return f"{name}'s", 0
    m = re.match(r"\s+[A-Za-z\-]+(?:\s+[A-Za-z\-]+){0,2}", following)
    words = m.group(0).split() if m else []
    while words and words[-1].lower() in STOPWORDS:
        words.pop()
    if not words or words[0].lower() in STOPWORDS:
        return f"{name}'s", 0
    taken = following.index(words[-1]) + len(words[-1])
    return f"the {following[:taken].strip()} of {name}", taken


@dataclass(frozen=True)
class _Word:
    """A referring word of the question, with what comes before (as rewritten so far) and after it."""

    text: str  # as typed: "He", "their", "this"
    gap: str  # what separates it from the next word
    next: str  # the next word
    before: list[str]  # the words before it
    rest: str  # the question after it


def _person(w: _Word, ctx: Context) -> tuple[str, int]:
    """he/she/his/her... -> the person, unless the question names someone before it."""
    low = w.text.lower()
    if not ctx.persons or _names_a_person(w.before):
        return "", 0
    possessive = low in ("his", "hers") or (
        low == "her" and not w.gap.strip() and w.next.lower() not in _OBJECT_FOLLOWERS
    )
    return ctx.persons[0] + ("'s" if possessive else ""), 0


def _they(w: _Word, ctx: Context) -> tuple[str, int]:
    """they/them/their -> the persons named, a group named, else a plural topic; unless the question names some."""
    persons = ctx.persons if ctx.persons and (ctx.named or not (ctx.group or _is_plural(ctx.topic))) else ()
    referent = " and ".join(persons) or ctx.group or (ctx.topic if _is_plural(ctx.topic) else "")
    if not referent or _names_a_group(w.before):
        return "", 0
    if w.text.lower() in ("their", "theirs"):
        return _possessive(referent, bool(persons), w.rest)
    return referent, 0


def _thing(w: _Word, ctx: Context, page_question: bool, persons: Sequence[str]) -> tuple[str, int, str]:
    """it/its/this/that -> the page (in a question about the page) or the topic; "" when it refers to something in
    the question, points ahead, or is a determiner or conjunction. Returns (text, characters taken after, kind)."""
    low, nxt = w.text.lower(), w.next.lower()
    whole = len(w.gap) + len(w.next)  # "this page" is replaced whole
    if low in ("this", "that") and nxt in _PAGE_NOUNS and (ctx.page or ctx.page_id):
        return f"the page “{ctx.page or ctx.page_id}”", whole, "page"
    if low in ("this", "that") and nxt in _TOPIC_NOUNS | _TERM_NOUNS and ctx.topic:
        if low == "that" and _names_a_thing(w.before, persons):  # "this idea" points back; "that idea" may not
            return "", 0, ""
        if nxt in ctx.topic.lower().split():
            return ctx.topic, whole, "topic"  # "this theory" after "modernization theory"
        return (f"the {w.next} “{ctx.topic}”" if nxt in _TERM_NOUNS else f"the {w.next} of {ctx.topic}"), whole, "topic"
    prev = w.before[-1].lower() if w.before else ""
    pronoun = low in ("it", "its", "itself") or (
        (nxt in _PRONOUN_FOLLOWERS or bool(w.gap.strip())) and not (low == "that" and prev in _CLAUSE_VERBS)
    )
    if not pronoun or _names_a_thing(w.before, persons):
        return "", 0, ""
    if page_question and low != "its":
        return f"the page “{ctx.page or ctx.page_id}”", whole if nxt in _PAGE_NOUNS else 0, "page"
    if low == "its" and ctx.topic:
        return (*_possessive(ctx.topic, False, w.rest), "topic")
    return ctx.topic, 0, "topic" if ctx.topic else ""


def _typed_as_pronoun(question: str, m: re.Match[str]) -> bool:
    """Whether a referring word is typed as a pronoun: not an acronym ("IT", "HE" in a question not typed in
    capitals) and not part of a compound ("IT-enabled", "he-said"). Only such a word is ever rewritten."""
    word = m.group(1)
    if len(word) > 1 and word.isupper() and not question.isupper():
        return False
    return question[m.start() - 1 : m.start()] not in _JOINERS and question[m.end() : m.end() + 1] not in _JOINERS


def resolve(question: str, ctx: Context) -> tuple[str, frozenset[str]]:
    """The question made standalone with `ctx`, and which referents it used ("person", "they", "topic", "page")."""
    page_question = bool(_PAGE_QUESTION.search(question)) and bool(ctx.page or ctx.page_id)
    expletive = {
        e.start() + m.start() for e in _EXPLETIVE.finditer(question) for m in re.finditer(r"\bit\b", e[0], re.I)
    }
    own_persons = [*persons_in(question), *ctx.persons]
    out: list[str] = []
    used: set[str] = set()
    pos = 0
    for m in _REFERRING.finditer(question):
        if m.start() < pos or not _typed_as_pronoun(question, m):
            continue
        low, start = m.group(1).lower(), m.start()
        before = WORD.findall("".join(out) + question[pos:start])
        w = _Word(m.group(1), m.group(2), m.group(3), before, question[m.end() :])
        new, taken, kind = "", 0, ""
        if low in _MALE_FEMALE and "person" not in used:
            new, taken = _person(w, ctx)
            kind = "person"
        elif low in _PLURAL and "they" not in used:
            new, taken = _they(w, ctx)
            kind = "they"
        elif low not in _MALE_FEMALE | _PLURAL and start not in expletive and not used & {"topic", "page"}:
            new, taken, kind = _thing(w, ctx, page_question, own_persons)
            do = re.search(r"\bdo\s+$", question[pos:start])
            if kind == "topic" and do and (action := _action(ctx.topic, [ctx.group, *ctx.persons])):
                new, start = action, pos + do.start()  # "why did they do it?" -> "why did the Soviets send missiles"
        if not new:
            out.append(question[pos : m.end()])
            pos = m.end()
            continue
        if start == 0 and m.group(1)[0].isupper():
            new = new[:1].upper() + new[1:]
        out.append(question[pos:start] + new)
        pos = m.end() + taken
        used.add(kind)
    out.append(question[pos:])
    return "".join(out), frozenset(used)


def advance(ctx: Context, question: str, answer: Answer | None) -> Context:
    """The context after a turn: its question resolved with `ctx`, then what the turn was about."""
    searched, used = resolve(question, ctx)
    central = central_person(answer)
    named = persons_in(searched if "person" not in used else question, [central] if central else [])
    if named:
        ctx = replace(ctx, persons=tuple(named), named=True)
    elif not used & {"person", "they"}:
        ctx = replace(ctx, persons=(central,) if central else ctx.persons, named=False)
    if "they" not in used:
        groups = re.findall(r"(?:^|\s)(?:[a-z]+\s+)((?:the\s+)?[A-Z][a-z]+s)\b", searched)  # not "Bretton Woods"
        ctx = replace(ctx, group=next((g for g in groups if g.split()[-1] not in " ".join(named)), ""))
    if not used & {"topic", "page"} or re.search(r"\babout\s+(?!it\b|this\b|that\b)\w", question, re.I):
        ctx = replace(ctx, topic=topic_of(searched, named) or ctx.topic)
    if answer is not None and answer.citations:
        ctx = replace(ctx, page=answer.citations[0].title, page_id=answer.citations[0].page_id)
    elif answer is not None and answer.closest_pages:  # "mentioned only as a related concept: see the page below"
        ctx = replace(ctx, page="", page_id=answer.closest_pages[0])
    return ctx


def turns(history: History) -> list[Turn]:
    """The history as Turns (it may hold (question, answer) pairs)."""
    return [t if isinstance(t, Turn) else Turn(t[0], t[1]) for t in history]


def context(history: History) -> Context:
    """What the conversation is about after the previous turns (oldest first; the last MAX_TURNS count)."""
    ctx = Context()
    for turn in turns(history[-MAX_TURNS:]):
        ctx = advance(ctx, turn.question, turn.answer)
    return ctx


def rewrite(question: str, history: History, title: Callable[[str], str] | None = None) -> str:
    """The question to search with: `question` made standalone with the previous turns, or unchanged.

    Args:
        question: the question as typed.
        history: the previous turns, oldest first: Turns or (question, Answer | None) pairs.
        title: a page's title from its id, for a page the conversation knows only by id (a refusal's closest page).

    Returns:
        The question with its pronouns replaced by what they refer to, when they refer to nothing in the question
        itself; the question unchanged without history or without such pronouns.
    """
    if not history:
        return question
    ctx = context(history)
    if title is not None and ctx.page_id and not ctx.page:
        ctx = replace(ctx, page=title(ctx.page_id))
    return resolve(question, ctx)[0]


def history_from_json(items: Any) -> list[Turn]:
    """A history as the HTTP API receives it: a list of previous questions (strings) or of {"question": ...,
    "answer": {...the `ask --json` shape...} | null}, oldest first. Raises QuestionError on any other shape."""
    if not isinstance(items, list):
        raise QuestionError("`history` must be a list of previous turns, oldest first.")
    out = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            out.append(Turn(item))
            continue
        if not isinstance(item, Mapping) or not isinstance(item.get("question"), str):
            raise QuestionError(f'history[{i}] must be a question or an object with a "question" string.')
        answer = item.get("answer")
        if answer is not None and not isinstance(answer, Mapping):
            raise QuestionError(f"history[{i}].answer must be an answer object (the `ask --json` shape) or null.")
        if answer is not None and not isinstance(answer.get("answer"), str):
            raise QuestionError(f'history[{i}].answer needs the "answer" text (the `ask --json` shape).')
        try:
            out.append(Turn(item["question"], answer_from_json(answer) if answer is not None else None))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise QuestionError(f"history[{i}].answer is not an answer in the `ask --json` shape ({exc}).") from None
    return out
