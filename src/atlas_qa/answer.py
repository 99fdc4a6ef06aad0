"""Answers: extractive sentences from the retrieved passages, each marked [n], checked before they are shown."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from .attribution import chain_for_span, cites_in_span, speaker_cites
from .lexical import tokenize
from .retrieve import Retrieval
from .spans import sentence_spans
from .types import Answer, Citation, Cite, Document, Passage

REFUSAL = "The course material doesn't cover this."
MIN_SENTENCES, MAX_SENTENCES = 2, 3
MIN_SENTENCE_CHARS = 25
RANK_PRIOR = 0.15  # how much a sentence gains from being in a higher-ranked passage


@dataclass(frozen=True)
class Sentence:
    """A candidate answer sentence: where it is, which passage it came from, how well it answers."""

    passage_rank: int
    start: int
    end: int
    text: str
    score: float


def clean(sentence: str) -> str:
    """Display form of a page sentence: footnote markers and Markdown emphasis dropped, white space folded."""
    sentence = re.sub(r"\[\^[^\]\s]+\]", "", sentence)
    sentence = sentence.replace("**", "")
    return re.sub(r"\s+", " ", sentence).strip()


def rank_sentences(
    question: str, passages: tuple[Passage, ...], docs: dict[str, Document], idf: Callable[[str], float]
) -> list[Sentence]:
    """The passages' sentences, best first: idf-weighted share of the question's stems they contain, plus a prior
    for the passage's rank (so the top passage wins ties)."""
    q_terms = set(tokenize(question))
    weights = {t: max(idf(t), 0.1) for t in q_terms}
    total = sum(weights.values()) or 1.0
    out = []
    for rank, p in enumerate(passages):
        doc = docs[p.chunk.page_id]
        ref_lists = [(s.start, s.end) for s in doc.sections if s.path == "References"]
        for a, b in sentence_spans(doc.text, p.chunk.start, p.chunk.end):
            text = doc.text[a:b]
            if len(text) < MIN_SENTENCE_CHARS or text.lstrip().startswith(("#", ">", "*Figure")):
                continue
            if any(lo <= a < hi for lo, hi in ref_lists):
                continue  # an entry of the reference list says who wrote what, not what they said
            overlap = sum(weights[t] for t in q_terms.intersection(tokenize(text))) / total
            out.append(Sentence(rank, a, b, text, overlap + RANK_PRIOR / (rank + 1)))
    out.sort(key=lambda s: -s.score)
    return out


def compose(
    question: str,
    retrieval: Retrieval,
    docs: dict[str, Document],
    refuse_below: float,
    idf: Callable[[str], float] = lambda t: 1.0,
) -> Answer:
    """Build the answer: the best sentences of the retrieved passages in page order, each with its [n] marker.

    Refuses (with the closest pages) when the retrieval's relevance is under `refuse_below`.
    """
    passages = retrieval.passages
    closest = tuple(page for page, _ in retrieval.pages[:3])
    if not passages or retrieval.relevance < refuse_below:
        return Answer(question=question, answer=REFUSAL, refused=True, citations=(), closest_pages=closest)

    ranked = rank_sentences(question, passages, docs, idf)
    best = ranked[0].score if ranked else 0.0
    # Two to three sentences: the best, and others that answer at least half as well.
    chosen = [s for i, s in enumerate(ranked[:MAX_SENTENCES]) if i < MIN_SENTENCES or s.score >= best / 2]
    chosen.sort(key=lambda c: (c.passage_rank, c.start))
    # Number passages in the order the answer first cites them; uncited passages follow.
    order = list(dict.fromkeys([c.passage_rank for c in chosen] + list(range(len(passages)))))
    number = {rank: i + 1 for i, rank in enumerate(order)}
    spans: dict[int, list[tuple[int, int]]] = {}
    for c in chosen:
        spans.setdefault(c.passage_rank, []).append((c.start, c.end))

    citations = []
    for rank in order:
        p = passages[rank]
        start, end = spans.get(rank, [(p.chunk.start, p.chunk.end)])[0]
        citations.append(citation(number[rank], p, docs[p.chunk.page_id], start, end))
    text = " ".join(f"{clean(c.text)} [{number[c.passage_rank]}]" for c in chosen)
    answer = Answer(question=question, answer=text, refused=False, citations=tuple(citations), closest_pages=closest)
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
        doc = docs[passages[s.passage_rank].chunk.page_id]
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


def verify(answer: Answer, docs: dict[str, Document]) -> Answer:
    """Drop any answer sentence whose marker points nowhere or whose text is not in its cited page; check references.

    Sentences are "text [n]" pieces; a dropped sentence is never shown. If nothing survives, the answer refuses.
    """
    by_n = {c.n: c for c in answer.citations}
    pieces = re.findall(r"(.+?) \[(\d+)\](?:\s|$)", answer.answer)
    cleaned = {pid: clean(doc.text) for pid, doc in docs.items()}  # once per page, not once per sentence
    kept = []
    for text, n in pieces:
        cit = by_n.get(int(n))
        if cit is None or cit.page_id not in docs:
            continue
        page = docs[cit.page_id]
        if clean(text) not in cleaned[cit.page_id] or not all(_reference_exists(c, page) for c in cit.cites):
            continue
        kept.append(f"{text} [{n}]")
    dropped = answer.dropped + len(pieces) - len(kept)
    if not kept:
        return replace(answer, answer=REFUSAL, refused=True, citations=(), dropped=dropped)
    return replace(answer, answer=" ".join(kept), dropped=dropped)


def _reference_exists(cite: Cite, page: Document) -> bool:
    return not cite.reference or any(r.text == cite.reference for r in page.references)
