"""Reading a question or an answer: its content words, the persons it names, the person it is most about, its topic."""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..attribution import find_citations
from ..lexical import STOPWORDS as LEXICAL_STOPWORDS
from ..types import Answer

# Words that carry no topic: the lexical stop words, more function words and verbs of saying.
STOPWORDS = LEXICAL_STOPWORDS | frozenset(
    """according also among another around behind beneath beside beyond course done either even every except inside
    least less many material may might mine much must near need needs neither onto ought outside past per please shall
    since throughout till toward towards upon us via whether whose within without yes yet say says said tell tells told
    think thinks thought write writes wrote written argue argues argued claim claims claimed state states stated
    explains explained describes described discusses discussed means""".split()
)
SAYING = (
    "say|says|said|argue|argues|argued|write|writes|wrote|think|thinks|thought|believe|believes|believed|claim|"
    "claims|claimed|mean|means|meant|warn|warns|warned|suggest|suggests|suggested|propose|proposes|proposed|contend|"
    "contends|contended|maintain|maintains|maintained|define|defines|defined|describe|describes|described|see|saw|"
    "view|views|viewed|consider|considers|considered|emphasi[sz]e|emphasi[sz]es|emphasi[sz]ed|note|notes|noted|"
    "observe|observes|observed|criticize|criticized|explain|explains|explained|want|wants|wanted"
)
_NAME = r"[A-Z][A-Za-z'’\-]+(?:\s+(?:[A-Z][A-Za-z'’\-]+|et al\.?))*"
# Where a capitalised name is a person: "did Locke argue", "according to Borins", "Locke's view", "who was Locke".
_PERSON_CUES = (
    re.compile(rf"\b(?:did|does|do|would|will|has|had|can|could|might)\s+({_NAME})\s+(?:{SAYING})\b"),
    re.compile(rf"\b(?:[Aa]ccording to|[Aa]s)\s+({_NAME})\b"),
    re.compile(
        rf"({_NAME})(?:'s|’s)\s+(?:view|views|argument|arguments|theory|idea|ideas|claim|claims|work|book|"
        r"position|critique|definition|account|point|thesis|warning|concept)\b"
    ),
    re.compile(rf"\b[Ww]ho\s+(?:is|was|were)\s+({_NAME})\b"),
    re.compile(rf"({_NAME})\s+(?:{SAYING})\b(?!\s+(?:the|a|an)\b)"),
)
WORD = re.compile(r"[A-Za-z0-9][\w'’\-]*")


def key_words(question: str, limit: int = 8) -> list[str]:
    """The question's content words in order, as typed, without repeats (at most `limit`): its topic words."""
    seen: set[str] = set()
    words = []
    for w in WORD.findall(question):
        w = w.rstrip("'’-")
        low = w.lower()
        if low in STOPWORDS or low in seen or len(w) < 2:
            continue
        seen.add(low)
        words.append(w)
    return words[:limit]


def persons_in(question: str, known: Sequence[str] = ()) -> list[str]:
    """The persons a question names, in order: names in a person's place ("did Locke argue", "according to Borins",
    "Locke's view") and any of the `known` names (e.g. the speakers of its answer)."""
    found: dict[int, str] = {}
    for cue in _PERSON_CUES:
        for m in cue.finditer(question):
            name = m.group(1)
            if name.split()[0].lower() not in STOPWORDS:
                found.setdefault(m.start(1), name)
    for name in known:
        for m in re.finditer(rf"\b{re.escape(name)}\b", question):
            found.setdefault(m.start(), name)
    names = [found[k] for k in sorted(found)]
    return [n for i, n in enumerate(names) if all(n not in other for other in names[:i])]


def _surname(label: str) -> str:
    """The first author of a cite label or footnote ("Borins, 2007, p. 16" -> "Borins"; "John Locke, The ..." ->
    "Locke"), else ""."""
    m = re.match(r"((?:[A-Z][A-Za-z'’\-]*\.?\s+){0,3}[A-Z][A-Za-z'’\-]+)(?:\s+et al\.?)?\s*(?:,|&|and\b|\()", label)
    return m.group(1).split()[-1] if m else ""


def central_person(answer: Answer | None) -> str:
    """The person an answer is most about: named in its sentences (3 each), the innermost speaker of its first source
    (2), that source's other speakers and the authors it cites (1, 0.5, ...); "" when it names nobody."""
    if answer is None or answer.refused:
        return ""
    scores: dict[str, float] = {}
    order: list[str] = []

    def add(name: str, points: float) -> None:
        name = name.strip()
        if name and name.split()[0].lower() not in STOPWORDS:
            scores[name] = scores.get(name, 0.0) + points
            order.append(name)

    for name in persons_in(answer.answer):
        add(name, 3)
    for c in find_citations(answer.answer):
        add(c.surname, 3)
    if answer.citations:
        first = answer.citations[0]
        chain = [re.sub(r"\s*\(.*", "", link) for link in first.chain.split(", quoted in ")] if first.chain else []
        for i, name in enumerate(chain or [first.speaker]):
            add(name, 2 if i == 0 else 1)
        for i, cite in enumerate(first.cites):
            add(_surname(cite.reference if cite.label.startswith("[^") else cite.label), 1 / (i + 1))
    if not scores:
        return ""
    # Surnames and full names of one person count together ("Locke" in "John Locke").
    merged = {n: sum(v for m, v in scores.items() if m == n or m.endswith(" " + n)) for n in scores}
    return max(merged, key=lambda n: (merged[n], -order.index(n)))


def topic_of(question: str, persons: Sequence[str] = ()) -> str:
    """What a question asks about, in its own words: "the state of nature" from "What did Locke argue about the state
    of nature?", "federalism" from "What is federalism?", else its key words (without the persons it names)."""
    q = re.split(r"[?!;]|,\s|\s+(?:and|but|or)\s+(?:why|how|what|when|where|who|is|are|does|do|did)\b", question)[0]
    q = q.strip().rstrip(".")
    patterns = (
        r"\b(?:about|regarding|concerning)\s+(.+)$",
        rf"^(?:who|which \w+)\s+(?:{SAYING}|first \w+)\s+that\s+(.+)$",
        r"^(?:so\s+)?(?:what|who)\s+(?:is|are|was|were)\s+(?:meant by\s+)?(.+)$",
        r"^what(?:'s|’s)\s+(.+)$",
        r"^what\s+(?:does|do)\s+(.+?)\s+mean$",
        r"^(?:why|how|when|where)\s+(?:did|do|does|was|were|is|are|has|have|had|can|could|would|will)\s+(.+)$",
        r"^(?:define|explain|describe|summari[sz]e|tell me about|compare)\s+(.+)$",
    )
    for pattern in patterns:
        m = re.search(pattern, q, re.I)
        if m and key_words(m.group(1)):
            return m.group(1).strip()
    return " ".join(w for w in key_words(q) if not any(w in p.split() for p in persons)) or " ".join(persons)
