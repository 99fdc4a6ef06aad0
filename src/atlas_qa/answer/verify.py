"""The last check before an answer is shown: every sentence is in its cited page and points to a real passage."""

from __future__ import annotations

from dataclasses import replace

from ..spans import clean
from ..types import Answer, Cite, Document

REFUSAL = "The course material doesn't cover this."


def verify(answer: Answer, docs: dict[str, Document]) -> Answer:
    """Drop any answer sentence whose citation number points nowhere, whose text is not in its cited page, or whose
    cited works are missing from that page's references. If nothing survives, the answer refuses."""
    by_n = {c.n: c for c in answer.citations}
    cleaned: dict[str, str] = {}  # once per page, not once per sentence
    kept = []
    for s in answer.sentences:
        cit = by_n.get(s.n)
        if cit is None or cit.page_id not in docs:
            continue
        page = docs[cit.page_id]
        if cit.page_id not in cleaned:
            cleaned[cit.page_id] = clean(page.text)
        if clean(s.text) not in cleaned[cit.page_id] or not all(_reference_exists(c, page) for c in cit.cites):
            continue
        kept.append(s)
    dropped = answer.dropped + len(answer.sentences) - len(kept)
    if not kept:
        return replace(answer, answer=REFUSAL, refused=True, citations=(), sentences=(), dropped=dropped)
    return replace(
        Answer.from_sentences(answer.question, tuple(kept), answer.citations, answer.closest_pages),
        generated=answer.generated,
        dropped=dropped,
    )


def _reference_exists(cite: Cite, page: Document) -> bool:
    return not cite.reference or any(r.text == cite.reference for r in page.references)
