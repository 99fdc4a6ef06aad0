"""Answers: extractive sentences from the retrieved passages, each marked [n], checked before they are shown."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .attribution import chain_for_span, cites_in_span
from .lexical import tokenize
from .retrieve import Retrieval
from .spans import sentence_spans
from .types import Answer, Citation, Cite, Document, Passage

REFUSAL = "The course material doesn't cover this."
MAX_SENTENCES = 3
MIN_SENTENCE_CHARS = 25


@dataclass(frozen=True)
class _Candidate:
    passage_rank: int
    start: int
    end: int
    text: str
    score: float


def _clean(sentence: str) -> str:
    """Display form of a page sentence: footnote markers and Markdown emphasis dropped, white space folded."""
    sentence = re.sub(r"\[\^[^\]\s]+\]", "", sentence)
    sentence = sentence.replace("**", "")
    return re.sub(r"\s+", " ", sentence).strip()


def _candidates(question: str, passages: tuple[Passage, ...], docs: dict[str, Document]) -> list[_Candidate]:
    q_terms = set(tokenize(question))
    out = []
    for rank, p in enumerate(passages):
        doc = docs[p.chunk.page_id]
        for a, b in sentence_spans(doc.text, p.chunk.start, p.chunk.end):
            text = doc.text[a:b]
            if len(text) < MIN_SENTENCE_CHARS or text.lstrip().startswith("#"):
                continue
            terms = set(tokenize(text))
            overlap = len(q_terms & terms) / (len(q_terms) or 1)
            # Lexical overlap with the question decides; the passage's rank breaks ties and favours the top passage.
            out.append(_Candidate(rank, a, b, text, overlap + 0.15 / (rank + 1)))
    return out


def compose(question: str, retrieval: Retrieval, docs: dict[str, Document], refuse_below: float) -> Answer:
    """Build the answer: the best sentences of the retrieved passages in page order, each with its [n] marker.

    Refuses (with the closest pages) when the best dense similarity is under `refuse_below`.
    """
    passages = retrieval.passages
    closest = tuple(page for page, _ in retrieval.pages[:3])
    if not passages or retrieval.top_similarity < refuse_below:
        return Answer(question=question, answer=REFUSAL, refused=True, citations=(), closest_pages=closest)

    chosen = sorted(_candidates(question, passages, docs), key=lambda c: -c.score)[:MAX_SENTENCES]
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
        doc = docs[p.chunk.page_id]
        start, end = spans.get(rank, [(p.chunk.start, p.chunk.end)])[0]
        citations.append(_citation(number[rank], p, doc, start, end))
    text = " ".join(f"{_clean(c.text)} [{number[c.passage_rank]}]" for c in chosen)
    answer = Answer(question=question, answer=text, refused=False, citations=tuple(citations), closest_pages=closest)
    return verify(answer, docs)


def _citation(n: int, p: Passage, doc: Document, start: int, end: int) -> Citation:
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


def verify(answer: Answer, docs: dict[str, Document]) -> Answer:
    """Drop any answer sentence whose marker points nowhere or whose text is not in its cited page; check references.

    Sentences are "text [n]" pieces; a dropped sentence is never shown. If nothing survives, the answer refuses.
    """
    by_n = {c.n: c for c in answer.citations}
    kept = []
    for text, n in re.findall(r"(.+?) \[(\d+)\](?:\s|$)", answer.answer):
        cit = by_n.get(int(n))
        if cit is None or cit.page_id not in docs:
            continue
        page = docs[cit.page_id]
        if _clean(text) not in _clean(page.text) or not all(_reference_exists(c, page) for c in cit.cites):
            continue
        kept.append(f"{text} [{n}]")
    if not kept:
        return Answer(answer.question, REFUSAL, True, (), answer.closest_pages)
    return Answer(answer.question, " ".join(kept), answer.refused, answer.citations, answer.closest_pages)


def _reference_exists(cite: Cite, page: Document) -> bool:
    return not cite.reference or any(r.text == cite.reference for r in page.references)
