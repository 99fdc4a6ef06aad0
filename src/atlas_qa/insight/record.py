"""What a question-log record holds for an answer: its light metadata and its heavy document."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from ..explain import attribution_rows, cited_numbers
from ..types import Answer, AttributionRow


def cited_pages(answer: Answer) -> list[str]:
    """The pages the answer cites, in order of first use (none for a refusal)."""
    if answer.refused:
        return []
    by_n = {c.n: c for c in answer.citations}
    numbers = cited_numbers(answer) or list(by_n)
    return list(dict.fromkeys(by_n[n].page_id for n in numbers if n in by_n))


def cited_works(
    answer: Answer, document: Callable[[str], Any] | None, rows: Sequence[AttributionRow] | None = None
) -> list[tuple[str, str, str]]:
    """(cited work, full reference or "" when the page's references lack it, page id), one per attribution row.

    `rows`: the answer's attribution as the asking computed it (`asking.Asker`); else computed here from `document`.
    """
    if answer.refused:
        return []
    if rows is None and answer.sentences:
        rows = attribution_rows(answer, document)
    if rows is not None:
        out = [(r.work, r.reference, r.page_id) for r in rows if r.work]
    else:  # an answer given without its sentences (an API client's): the citations' own works
        out = [(w.label, w.reference, c.page_id) for c in answer.citations for w in c.cites if w.label]
    return list(dict.fromkeys((work_name(label, ref), ref, page_id) for label, ref, page_id in out))


def work_name(label: str, reference: str) -> str:
    """How a cited work is named in the audit: its label ("Borins, 2007"), or for a footnote marker ("[^4]"),
    the start of the footnote's reference, which says what the work is."""
    if label.startswith("[^") and reference:
        return reference if len(reference) <= 100 else reference[:99].rstrip() + "…"
    return label


def answer_metadata(
    answer: Answer,
    question: str | None,
    student: str,
    follow_up: bool,
    t: float,
    document: Callable[[str], Any] | None = None,
    rows: Sequence[AttributionRow] | None = None,
) -> dict[str, Any]:
    """The record's metadata (scalars only, lists as JSON): what the insight report reads."""
    question = question or answer.question
    passages = [f"{c.page_id}#{c.start}-{c.end}" for c in answer.citations] if not answer.refused else []
    return {
        "t": float(t),
        "student": student,
        "question": question,
        "searched": answer.searched or answer.question or question,
        "refused": bool(answer.refused),
        "follow_up": bool(follow_up),
        "pages": json.dumps(cited_pages(answer), ensure_ascii=False),
        "passages": json.dumps(passages, ensure_ascii=False),
        "works": json.dumps(cited_works(answer, document, rows), ensure_ascii=False),
    }


def answer_document(answer: Answer) -> str:
    """The record's document: the answer text, its sentences (each with its citation number) and its citations as
    JSON (read by the feedback list and exports: no one parses "[n]" out of the text)."""
    return json.dumps(
        {
            "answer": answer.answer,
            "sentences": [asdict(s) for s in answer.sentences],
            "citations": [asdict(c) for c in answer.citations],
            "closest_pages": list(answer.closest_pages),
        },
        ensure_ascii=False,
    )
