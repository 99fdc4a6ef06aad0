"""Extractive answers: the retrieved passages' sentences that answer the question, verbatim, each marked [n].

Each sentence of the top passages is scored by meaning (the embedding model: question vs sentence), by words
(idf-weighted share of the question's stems) and by its passage's rank; a sentence right after a relevant one
inherits part of that score (answers often follow the sentence that names the subject), and a sentence right
before one a smaller part ("A third outcome results from what is called logrolling." introduces the explanation).
The question's kind (`kinds.intent`) then decides what leads: the sentence that defines the term (where the book
sets it in bold, else "X is/means ..."), the words the page attributes to the author the question names, a
sentence for each side of a comparison, a time or place for "when/where", or the page's own metadata line.
Sentences that are not statements of content (`sentences.is_answer_sentence`) are never shown; one that only echoes
the question scores less; one that points back comes after the sentence it points to, or alone when that one cannot
be shown. A further sentence must earn its place on its own score; a short answer may take up to five.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..attribution import chain_for_span, cites_in_span, speaker_cites
from ..lexical import tokenize
from ..retrieve import Retrieval
from ..spans import paragraph_spans, sentence_spans
from ..types import Answer, AnswerSentence, Citation, Cite, Document, Passage, is_link_out
from .kinds import Intent, holds_answer, intent, split_choices
from .sentences import MIN_SENTENCE_CHARS, Sentence, is_answer_sentence, points_back, prose_start
from .terms import (
    attributed,
    defined_here,
    defines,
    in_bold,
    metadata_sentence,
    named_author,
    named_thing,
    only_related,
    related_concept,
)
from .verify import REFUSAL, clean, verify

MAX_SENTENCES = 3  # picks an answer has when they are long ...
MAX_WORDS = 100  # ... within this hard cap; three sentences are usually far shorter than a passage
MORE_SENTENCES = 5  # picks a short answer may have: a fourth and fifth pick only while the answer stays ...
SHORT_WORDS = 75  # ... within these words (60 % of a passage is ~78; chosen on six books, docs/answers.md)
ANSWER_PASSAGES = 5  # the answer's sentences come from the best passages (all retrieved passages are cited)
LEXICAL_WEIGHT = 0.2  # words count 0.2 of meaning (chosen on other books, docs/ranker.md; 0.4 before headings)
RANK_PRIOR = 0.1  # what a sentence gains from its passage's rank (1/(rank+1) of it)
CONTEXT = 0.9  # share of the previous sentence's score a sentence inherits
LEAD_IN = 0.7  # share of the next sentence's score a sentence inherits (it may name what the next one explains)
CUE_BONUS = 0.1  # a sentence that gives what the question's kind asks for: a reason, a person, a date...
CHOICE_BONUS = 0.8  # a sentence naming one of the choices pasted with the question (training/ranker/choices.py)
MAX_LEAN_BACK = 2  # sentences a pick may bring along because it points back to them
EARN = 0.6  # a further sentence needs this share of the best sentence's score
ECHO_PENALTY = 0.4  # times the share of a sentence's words the question already has (it says nothing new)
REPEATS = 0.8  # a sentence this much of whose stems the answer already has is not shown (it says it again)
# The best candidates by their own score are also read under their section's heading ("Malthusian Theory: Malthus
# identified these factors as war, famine, and disease."): out of its section a sentence loses its subject.
HEADED = 10

Embed = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class Candidates:
    """What a scorer reads: the question, its kind, the candidate sentences, their cheap signals (`SIGNALS` columns)
    and the model's vectors: the question's first, then each sentence's (None without a model)."""

    question: str
    want: Intent
    sentences: list[Sentence]
    signals: np.ndarray
    vectors: np.ndarray | None


Scorer = Callable[[Candidates], np.ndarray]  # a score per candidate sentence, higher is better

_REASON_CUES = re.compile(
    r"\b(because|since|due to|owing to|reasons?|caus(e|es|ed)|so that|in order to|led to|leads to|"
    r"result(s|ed)? (in|from)|as a result|attributed|explain(s|ed)?|motivat\w+|why)\b",
    re.I,
)
_MECHANISM_CUES = re.compile(
    r"\b(by|through|via|using|steps?|process|works?|involves?|first|then|must|allows?|"
    r"enables?|requires?)\b",
    re.I,
)
_EXAMPLE_CUES = re.compile(
    r"(?i:\b(for (example|instance)|such as|e\.g\.|including|case of|in \d{4}))|\b[A-Z][a-z]+ [A-Z][a-z]+"
)
_WHO_CUES = re.compile(
    r"\b[A-Z][a-z]+(?:\s+[A-Z][a-z.]+)+\b|"
    r"\b(argued|wrote|writes|said|claimed|warned|proposed|founded|led|group|movement|organization|scholars?|"
    r"philosophers?)\b"
)
_WHEN_CUES = re.compile(  # a year, a month, a century; a place named after a preposition, or a kind of place
    r"\b(?:1\d\d\d|20\d\d)s?\b|\b(?:January|February|March|April|May|June|July|August|September|October|November|"
    r"December)\b|\b(?:century|centuries|decade)\b|\b(?:in|at|from|near|across|throughout|to)\s+(?:the\s+)?[A-Z][a-z]+|"
    r"\b(?:city|town|country|countries|state|region|village|island|nation)\b"
)
CUES = {
    "reason": _REASON_CUES,
    "mechanism": _MECHANISM_CUES,
    "example": _EXAMPLE_CUES,
    "who": _WHO_CUES,
    "when": _WHEN_CUES,
}


def rank_sentences(
    question: str, passages: tuple[Passage, ...], docs: dict[str, Document], idf: Callable[[str], float]
) -> list[Sentence]:
    """The passages' prose sentences best first by words alone (used to find the works supporting a claim)."""
    cands = [
        c
        for c in _candidates(passages, docs)
        if len(c.text) >= MIN_SENTENCE_CHARS and not c.text.lstrip().startswith(("#", ">", "*Figure"))
    ]
    lexical = _lexical(question, [c.text for c in cands], idf)
    scored = [_with(c, lexical[i] + RANK_PRIOR / (c.passage_rank + 1)) for i, c in enumerate(cands)]
    return sorted(scored, key=lambda s: -s.score)


def compose(
    question: str,
    retrieval: Retrieval,
    docs: dict[str, Document],
    refuse_below: float,
    idf: Callable[[str], float] = lambda t: 1.0,
    embed: Embed | None = None,
    scorer: Scorer | None = None,
) -> Answer:
    """Build the answer from the retrieved passages; refuse (with the closest pages) when the retrieval's relevance
    is under `refuse_below`, unless the question names an author a retrieved page cites or a term it defines.

    `embed` turns texts into unit vectors (the model); without it sentences are scored by words alone.
    `scorer` scores the candidate sentences (default: `hand_scores`; `training/ranker/` tries learned ones).
    """
    passages = retrieval.passages
    closest = tuple(page for page, _ in retrieval.pages[:3])
    refusal = Answer(question=question, answer=REFUSAL, refused=True, citations=(), closest_pages=closest)
    if not passages:
        return refusal
    want = intent(question)
    if want.kind == "page":  # "who wrote this page?": the top page's own line says it
        meta = metadata_sentence(want.field, docs[passages[0].chunk.page_id])
        if meta is not None:
            return _assemble(question, passages[:1], docs, [meta], closest)
    author = named_author(question, docs.values())
    if retrieval.relevance < refuse_below and not (
        author or defined_here(question, docs.values()) or named_thing(question, docs.values())
    ):
        return refusal
    cands = _candidates(passages[:ANSWER_PASSAGES], docs)
    scored = scored_candidates(question, want, cands, idf, embed)
    scores = (scorer or hand_scores)(scored)
    if want.kind == "definition":
        related = only_related(want.term, cands, docs)
        if related:
            return related_concept(question, want.term, related, closest)
    lead = _lead(want, author, cands, scores, docs, scored.signals[:, SIGNALS.index("cue")] > 0)
    chosen = _choose(cands, scores, lead, want)
    if not chosen:
        return refusal
    return _assemble(question, passages, docs, chosen, closest)


def _candidates(passages: tuple[Passage, ...], docs: dict[str, Document]) -> list[Sentence]:
    """Every sentence of the passages in page order, passage by passage (reference-list entries left out, a list
    item's marker too), each marked whether it may be shown: prose that states something (`sentences`)."""
    out = []
    seen: set[str] = set()  # a sentence that overlapping passages (or a repeated paragraph) share counts once
    for rank, p in enumerate(passages):
        doc = docs[p.chunk.page_id]
        ref_lists = doc.reference_spans
        for block_start, block_end in paragraph_spans(doc.text, p.chunk.start, p.chunk.end):
            start = prose_start(doc.text[block_start:block_end])
            section = doc.section_at(block_start)
            prose = start is not None and not is_link_out(section)
            heading = clean(section.rsplit(" > ", 1)[-1]) or doc.title  # the innermost section's (else the page's)
            for a, b in sentence_spans(doc.text, block_start + (start or 0), block_end):
                text = doc.text[a:b]
                if any(lo <= a < hi for lo, hi in ref_lists) or clean(text) in seen:
                    continue  # a reference says who wrote what, not what they said
                seen.add(clean(text))
                shown = prose and is_answer_sentence(text)
                out.append(Sentence(rank, doc.page_id, a, b, text, shown=shown, heading=heading))
    return out


def _lexical(question: str, texts: Sequence[str], idf: Callable[[str], float]) -> np.ndarray:
    q_terms = set(tokenize(question))
    weights = {t: max(idf(t), 0.1) for t in q_terms}
    total = sum(weights.values()) or 1.0
    return np.array([sum(weights[t] for t in q_terms.intersection(tokenize(t))) / total for t in texts])


# An asked term with a phrase after it ("horse race coverage of an election", "place theory of pitch perception"):
# the term the book may set in bold is its head.
_HEAD_TERM = re.compile(r"(.+?)\s+(?:of|in|for|on|at|during|under|within|among|between|by)\s+\S.*$", re.I)

SIGNALS = ("meaning", "words", "rank", "echo", "cue", "choice")  # the cheap signals of each candidate, in this order


def scored_candidates(
    question: str, want: Intent, cands: list[Sentence], idf: Callable[[str], float], embed: Embed | None
) -> Candidates:
    """The candidates with what scorers read: per sentence the `SIGNALS` (cosine with the question, 0 without
    `embed`, for the `HEADED` best the better of it and the cosine of "heading: sentence"; the idf-weighted share of
    the question's stems it has; 1/(passage rank + 1); the share of its words the question already has, 0 for a
    question that holds its answer's words, a blank to fill or choices; whether it gives what the question's kind
    asks for; whether it has a word of the question's pasted choices that the question before them does not) and the
    model's vectors."""
    texts = [clean(c.text) for c in cands]
    sig = np.zeros((len(cands), len(SIGNALS)), dtype=np.float32)
    vectors = embed([question, *texts]) if embed is not None and cands else None
    if cands:
        sig[:, 1] = _lexical(question, texts, idf)
        sig[:, 2] = [1.0 / (c.passage_rank + 1) for c in cands]
        if not holds_answer(question):  # the sentence that fills a blank or names a choice repeats it
            q_stems = set(tokenize(question))
            sig[:, 3] = [_echo(q_stems, t) for t in texts]
        cue = CUES.get(want.kind)
        if cue is not None:
            sig[:, 4] = [bool(cue.search(t)) for t in texts]
        stem, offered = split_choices(question)
        if offered:
            named = set(tokenize(offered)) - set(tokenize(stem))
            sig[:, 5] = [bool(named.intersection(tokenize(t))) for t in texts]
        if embed is not None and vectors is not None:
            sig[:, 0] = vectors[1:] @ vectors[0]
            best = np.argsort(-own_scores(sig), kind="stable")[:HEADED]
            headed = embed([f"{cands[i].heading}: {texts[i]}" for i in best])
            sig[best, 0] = np.maximum(sig[best, 0], headed @ vectors[0])
    return Candidates(question, want, cands, sig, vectors)


def hand_scores(c: Candidates) -> np.ndarray:
    """The scorer `compose` uses: a hand-set weighted sum of the signals, spread to neighbours."""
    return spread(c.sentences, own_scores(c.signals))


def own_scores(sig: np.ndarray) -> np.ndarray:
    """Each sentence's own hand-set score: the weighted sum of its `SIGNALS`."""
    return (
        sig[:, 0]
        + LEXICAL_WEIGHT * sig[:, 1]
        + RANK_PRIOR * sig[:, 2]
        - ECHO_PENALTY * sig[:, 3]
        + CUE_BONUS * sig[:, 4]
        + CHOICE_BONUS * sig[:, 5]
    )


def spread(cands: list[Sentence], own: np.ndarray) -> np.ndarray:
    """Scores after neighbours share theirs: a sentence inherits `CONTEXT` of the previous one's score (answers follow
    the sentence that names the subject) and `LEAD_IN` of the next one's."""
    scores = own.copy()
    for i in range(1, len(cands)):
        if adjacent(cands[i - 1], cands[i]):
            scores[i] = max(scores[i], CONTEXT * own[i - 1])
            scores[i - 1] = max(scores[i - 1], LEAD_IN * own[i])
    return scores


def _echo(q_stems: set[str], text: str) -> float:
    """Share of a sentence's content words that the question already has: 1.0 says nothing new."""
    stems = tokenize(text)
    return sum(t in q_stems for t in stems) / len(stems) if stems else 1.0


def adjacent(a: Sentence, b: Sentence) -> bool:
    return a.passage_rank == b.passage_rank and a.page_id == b.page_id and a.end <= b.start


def _lead(
    want: Intent,
    author: str,
    cands: list[Sentence],
    scores: np.ndarray,
    docs: dict[str, Document],
    gives: np.ndarray,
) -> int | None:
    """The candidate that must lead the answer for this kind of question, if any: what the page attributes to the
    author asked about; the sentence that introduces or defines the asked term; for a "when/where" question the best
    sentence that gives a time or place (`gives`: which give what the kind asks for, `CUES`) if it earns its place
    (`EARN` of the best score): without one the answer does not answer."""
    if author:
        said = [i for i, c in enumerate(cands) if c.shown and attributed(c, author, docs)]
        if said:
            return max(said, key=lambda i: scores[i])
    if want.kind == "definition":
        introduced = [i for i, c in enumerate(cands) if c.shown and in_bold(c.text, want.term)]
        if not introduced and (head := _HEAD_TERM.match(want.term)):  # "horse race coverage" of an election
            introduced = [i for i, c in enumerate(cands) if c.shown and in_bold(c.text, head.group(1))]
        if introduced:  # where the book introduces the key term, in the best passage that does
            return min(introduced, key=lambda i: (cands[i].passage_rank, cands[i].start))
        defining = [i for i, c in enumerate(cands) if c.shown and defines(c.text, want.term)]
        if defining:
            return max(defining, key=lambda i: scores[i])
    if want.kind == "when":
        shown = [i for i, c in enumerate(cands) if c.shown]
        top = max((scores[i] for i in shown), default=0.0)
        giving = [i for i in shown if gives[i] and scores[i] >= EARN * top]
        if giving:
            return max(giving, key=lambda i: scores[i])
    return None


def _choose(cands: list[Sentence], scores: np.ndarray, lead: int | None, want: Intent) -> list[Sentence]:
    """Pick the answer's sentences: the lead, then the best that earn their place, within the length budget (three
    picks in `MAX_WORDS`, up to five while the answer stays within `SHORT_WORDS`).

    A sentence that points back comes with the sentences before it that it leans on (together, one pick); one whose
    words the answer already says (`REPEATS` of its stems) is left out ("Head of state is a ceremonial role, while
    head of government is a political one that confers real power." after "Generally, the head of state is a
    ceremonial role, while the head of government holds political power.")."""
    order = [int(i) for i in np.argsort(-scores, kind="stable")]
    if lead is not None:
        order.remove(lead)
        order.insert(0, lead)
    if want.kind == "compare":
        order = _both_sides(want.sides, cands, order)
    floor = EARN * float(scores[order[0]]) if order else 0.0
    chosen: list[int] = []
    said: set[str] = set()  # the stems the chosen sentences say
    picks = 0
    for i in order:
        if picks >= MORE_SENTENCES or (picks and scores[i] < floor and want.kind != "compare"):
            break
        if i in chosen or not cands[i].shown:
            continue
        stems = set(tokenize(cands[i].text))
        if stems and len(stems & said) >= REPEATS * len(stems):
            continue
        unit = _with_antecedents(cands, i, chosen)
        words = sum(len(clean(cands[j].text).split()) for j in chosen + unit)
        if chosen and words > (MAX_WORDS if picks < MAX_SENTENCES else SHORT_WORDS):
            continue
        chosen += unit
        said.update(*(tokenize(cands[j].text) for j in unit))
        picks += 1
    return [cands[i] for i in sorted(chosen, key=lambda i: (cands[i].passage_rank, cands[i].start))]


def _with_antecedents(cands: list[Sentence], i: int, chosen: list[int]) -> list[int]:
    """Sentence i with the sentences before it that it leans on (up to `MAX_LEAN_BACK`), those not shown yet first;
    i alone when they cannot come with it (its passage starts with it, one of them cannot be shown, or they are more
    than `MAX_LEAN_BACK`)."""
    unit = [i]
    while points_back(cands[unit[0]].text) and unit[0] - 1 not in chosen:
        prev = unit[0] - 1
        if len(unit) > MAX_LEAN_BACK or prev < 0 or not adjacent(cands[prev], cands[unit[0]]) or not cands[prev].shown:
            return [i]
        unit.insert(0, prev)
    return unit


def _both_sides(sides: tuple[str, ...], cands: list[Sentence], order: list[int]) -> list[int]:
    """The ranking with, up front, the best sentence for each side of a comparison."""
    firsts = []
    for side in sides:
        stems = set(tokenize(side))
        best = next((i for i in order if stems and stems <= set(tokenize(cands[i].text)) and cands[i].shown), None)
        if best is not None and best not in firsts:
            firsts.append(best)
    return firsts + [i for i in order if i not in firsts]


def _assemble(
    question: str,
    passages: tuple[Passage, ...],
    docs: dict[str, Document],
    chosen: list[Sentence],
    closest: tuple[str, ...],
) -> Answer:
    """Number the passages in the order the answer first cites them (uncited ones follow) and verify."""
    order = list(dict.fromkeys([c.passage_rank for c in chosen] + list(range(len(passages)))))
    number = {rank: i + 1 for i, rank in enumerate(order)}
    first_span: dict[int, tuple[int, int]] = {}
    for c in chosen:
        first_span.setdefault(c.passage_rank, (c.start, c.end))
    citations = []
    for rank in order:
        p = passages[rank]
        start, end = first_span.get(rank, (p.chunk.start, p.chunk.end))
        citations.append(citation(number[rank], p, docs[p.chunk.page_id], start, end))
    sentences = tuple(
        AnswerSentence(text=clean(c.text), n=number[c.passage_rank], page_id=c.page_id, start=c.start, end=c.end)
        for c in chosen
    )
    answer = Answer.from_sentences(question, sentences, tuple(citations), closest_pages=closest)
    return verify(answer, docs)


def citation(n: int, p: Passage, doc: Document, start: int, end: int) -> Citation:
    """The citation of a passage whose cited span is doc.text[start:end]: speaker, chain and works cited."""
    speaker, pages, speaker_ref, chain = chain_for_span(doc, start, end)
    in_span = cites_in_span(doc, start, end)
    rest = [c for c in cites_in_span(doc, p.chunk.start, p.chunk.end) if c not in in_span]
    return Citation(
        n=n,
        page_id=doc.page_id,
        title=doc.title,
        source=doc.metadata.get("source_url") or doc.source,
        section=p.chunk.section,
        speaker=speaker or p.chunk.speaker,
        pages=pages or p.chunk.pages,
        cites=tuple(in_span + rest),
        text=p.chunk.text,
        score=round(p.score, 4),
        start=start,
        end=end,
        speaker_reference=speaker_ref,
        chain=chain,
    )


def supporting_works(sentences: list[Sentence], docs: dict[str, Document], passages: tuple[Passage, ...]) -> list[Cite]:
    """Works that support a claim, best first: for each best-matching sentence, the works it cites, then the works
    of the speakers it quotes (innermost first); then the works cited in the passages."""
    found: list[Cite] = []
    for s in sentences[:5]:
        doc = docs[s.page_id]
        for c in cites_in_span(doc, s.start, s.end) + speaker_cites(doc, s.start, s.end):
            if c.reference and all(c.reference != f.reference for f in found):
                found.append(c)
    for p in passages:
        doc = docs[p.chunk.page_id]
        found += [
            c
            for c in cites_in_span(doc, p.chunk.start, p.chunk.end)
            if c.reference and all(c.reference != f.reference for f in found)
        ]
    return found


def _with(c: Sentence, score: float) -> Sentence:
    return replace(c, score=score)
