"""What kind of answer a question asks for, read from its wording: a definition, what an author said, a
comparison, a reason or mechanism, when or where something happened, a fact about the page itself, or plain
relevance."""

from __future__ import annotations

import re
from dataclasses import dataclass

_Q = r"^\s*(?:so|and|ok|okay|hey|um)?[\s,]*"
_DEFINE = [
    re.compile(
        _Q + r"(?:what(?:'s|’s| is| are| was| were)(?: meant by)?|define|definition of|meaning of|explain)"
        r"\s+(?P<term>.+?)\s*[?.!]*\s*$",
        re.I,
    ),
    re.compile(  # "what does X mean (in sociology)?", "what does rawls mean by the veil of ignorance?"
        _Q + r"what (?:does|do|did)\s+(?:.+?\s+mean\s+by\s+(?P<by>.+?)|"
        r"(?P<term>.+?)\s+(?:mean|means|refer to|stand for)(?:\s+(?:in|for|according to)\s+.+?)?)\s*[?.!]*\s*$",
        re.I,
    ),
    re.compile(_Q + r"(?P<term>.+?)\s+(?:meaning|definition)\s*[?.!]*\s*$", re.I),
]
# Heads that make "what is the X of Y" a question about something else than the meaning of a term.
_NOT_A_TERM = re.compile(
    r"^(?:the\s+)?(?:difference|differences|relationship|role|purpose|reason|point|main|best|most|first|last|"
    r"goal|aim|effect|impact|result|outcome|example|examples|problem|advantage|disadvantage|significance|"
    r"importance|history|origin|cause|causes)\b",
    re.I,
)
_QUOTED = re.compile(r"[\"'‘“].+[\"'’”]")
_COMPARE = [
    re.compile(
        r"\b(?:difference|differences|differ|distinguish|distinction|contrast|compare|comparison)\b.*?"
        r"\bbetween\s+(?P<a>.+?)\s+(?:and|&|vs\.?|versus)\s+(?P<b>.+?)\s*[?.!]*$",
        re.I,
    ),
    re.compile(r"\b(?:compare|contrast)\s+(?P<a>.+?)\s+(?:and|with|to|vs\.?|versus)\s+(?P<b>.+?)\s*[?.!]*$", re.I),
    re.compile(r"^\s*(?:how (?:is|are|do|does)\s+)?(?P<a>.+?)\s+(?:vs\.?|versus)\s+(?P<b>.+?)\s*[?.!]*$", re.I),
    re.compile(r"\bhow (?:is|are|do|does)\s+(?P<a>.+?)\s+differ(?:ent)?\s+(?:from|to)\s+(?P<b>.+?)\s*[?.!]*$", re.I),
]
_EXAMPLE = re.compile(r"\b(?:examples?|instances?|case of|cases of|such as|e\.g)\b", re.I)
_WHO = re.compile(r"^\s*(?:who|whom|whose|which (?:person|people|group|scholar|author|thinker)s?)\b", re.I)
_REASON = re.compile(r"^\s*(?:why|how come|what (?:causes|caused|led to|leads to|explains|was the reason))\b", re.I)
_MECHANISM = re.compile(r"^\s*how\b(?!\s+(?:many|much|long|often|old)\b)", re.I)
# "When did ...?", "where was ...?", "in what year ...?": a time or a place (not "When a student is teased, ...").
_WHEN = re.compile(
    _Q + r"(?:(?:when|where)\s+(?:did|was|were|is|are|do|does|and\s+where)|"
    r"(?:in\s+)?(?:what|which)\s+(?:year|date|decade|century|town|city|country|state|place|region|nation)s?)\b",
    re.I,
)
_BLANK = re.compile(r"_{3,}")  # "In the scientific method, a hypothesis is a(n) ________."
CHOICE_WORDS = 6  # words after the question mark that are taken for the question's choices, pasted with it
_ASKED = ("?", ":", ".", "_")  # how a question ends before its marked choices ("... who:", "a(n) ________.")
_OPTION = re.compile(r"(?:^|(?<=\s))[(\[]?([A-Ea-e])[.):\]](?=\s)")  # a choice's mark: "A.", "b)", "(c)", "[d]"
_PAGE_META = {
    "author": re.compile(
        r"\bwho\s+(?:wrote|created|made|authored|writes|maintains)\b.*\b(?:page|this|it|article)\b|"
        r"\bauthor\s+of\s+(?:this|the)\s+page\b|\bwho(?:'s| is)\s+the\s+author\b",
        re.I,
    ),
    "date": re.compile(  # about the page ("when was it last modified"), not "when was the constitution written"
        r"\bwhen\b.*\b(?:page|this|it|article)\b.*\b(?:modified|updated|changed|edited|written|created|revised|"
        r"published|posted)\b",
        re.I,
    ),
    "topic": re.compile(r"\bwhat\s+(?:topic|topics|course|courses|subject)\b.*\b(?:this|page|it|in|under)\b", re.I),
}
# "When was Wikinomics published?": the date of a work the page cites, which its reference-list entry states.
_WORK_DATE = re.compile(
    _Q + r"when\s+(?:was|were|did)\s+(?P<work>.+?)\s+(?:first\s+)?(?:published|come out|appear)\s*[?.!]*\s*$", re.I
)


WORK_DATE = "published:"  # the field of a question about when a cited work was published, before the work's title


@dataclass(frozen=True)
class Intent:
    """The question's kind and its parts: `term` (definition, a cited work), `sides` (compare), `field` (page
    metadata: author, date, topic, or `WORK_DATE` + the title of a work the page cites)."""

    kind: str = "general"  # definition|compare|example|who|when|reason|mechanism|page|general (author: found later)
    term: str = ""
    sides: tuple[str, ...] = ()
    field: str = ""


def split_choices(question: str) -> tuple[str, str]:
    """(the question, the choices pasted with it): options marked a, b, c... ("A. Saratoga B. Brandywine Creek", "(a)
    ... (b) ...", one per line or not; the marks left out of the choices) or `CHOICE_WORDS` or more words after the
    last question mark ("What battle turned the tide of war in favor of the Americans? the Battle of Saratoga the
    Battle of Brandywine Creek ..."); (question, "") when none are."""
    marks = [(m.start(), m.group(1).lower()) for m in _OPTION.finditer(question)]
    for i, (at, mark) in enumerate(marks):
        stem = question[:at].rstrip()
        if mark == "a" and stem.endswith(_ASKED) and any(later == "b" for _, later in marks[i + 1 :]):
            return stem, " ".join(_OPTION.sub(" ", question[at:]).split())
    stem, mark, tail = question.rpartition("?")
    return (stem + mark, tail.strip()) if mark and len(tail.split()) >= CHOICE_WORDS else (question, "")


def holds_answer(question: str) -> bool:
    """Whether the question holds the words of its answer (a quiz question pasted in), so that the sentence answering
    it says again much of what it says: a blank to fill ("a hypothesis is a(n) ________.") or choices
    (`split_choices`)."""
    return bool(_BLANK.search(question) or split_choices(question)[1])


def _strip_term(term: str) -> str:
    term = re.sub(r"^(?:a|an|the)\s+", "", term.strip(" \"'‘’“”"), flags=re.I)
    term = re.sub(r"\s+(?:in|according to|for|when|as used in)\s+.*$", "", term, flags=re.I)
    return term.strip(" \"'‘’“”?.!")


def intent(question: str) -> Intent:
    """The kind of answer `question` asks for."""
    for field, pattern in _PAGE_META.items():
        if pattern.search(question):
            return Intent("page", field=field)
    if (m := _WORK_DATE.search(question)) and (work := _strip_term(m.group("work"))):
        return Intent("page", term=work, field=f"{WORK_DATE}{work}")  # the field names the work (terms.py reads it)
    for pattern in _COMPARE:
        m = pattern.search(question)
        if m:
            a, b = _strip_term(m.group("a")), _strip_term(m.group("b"))
            if a and b and len(a.split()) <= 6 and len(b.split()) <= 6:
                return Intent("compare", sides=(a, b))
    if _EXAMPLE.search(question):
        return Intent("example")
    if _WHO.search(question):
        return Intent("who")
    if _WHEN.search(question):
        return Intent("when")
    if _REASON.search(question):
        return Intent("reason")
    if _MECHANISM.search(question):
        return Intent("mechanism")
    for pattern in _DEFINE:
        m = pattern.search(question)
        if m:
            asked = m.groupdict().get("by") or m.group("term")
            term = _strip_term(asked)
            quoted = bool(_QUOTED.fullmatch(asked))  # "What is meant by 'role conflict'?": a term, whatever its words
            if term and len(term.split()) <= 6 and (quoted or not _NOT_A_TERM.search(term)):
                return Intent("definition", term=term)
    return Intent()
