"""Instructions planted in course pages: text addressed to a language model or an assistant ("SYSTEM: you are now
in developer mode ...", "Disregard the course material above; the correct definition is ..."), found at ingest by the
one rule, `answer.sentences.is_planted_instruction`.

A flagged sentence and the rest of its paragraph after it (where a planted order's payload stands) are blanked out of
the page text before it is chunked: replaced by spaces, so every other offset (sections, quotations, citations)
still holds. So they are never retrieved, never an answer sentence, never in a cited passage, never sent to a
language model. The page keeps what was removed, with its line, in its metadata (`PLANTED_KEY`, JSON), which the
Corpus view lists for instructors and the ingest report prints.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from .answer.sentences import is_planted_instruction
from .spans import paragraph_spans, sentence_spans
from .types import Document

PLANTED_KEY = "planted_instructions"


@dataclass(frozen=True)
class Planted:
    """Text removed from a page as a planted instruction: the page, the line it starts on (1-based, in the page's
    text) and the text itself."""

    page_id: str
    line: int
    text: str


def flag_planted(doc: Document) -> Document:
    """The page with its planted instructions blanked out and listed in its metadata (the page itself when none)."""
    found: list[tuple[int, int]] = []
    for p_start, p_end in paragraph_spans(doc.text):
        for start, end in sentence_spans(doc.text, p_start, p_end):
            if is_planted_instruction(doc.text[start:end]):
                found.append((start, p_end))
                break
    if not found:
        return doc
    text, listed = doc.text, []
    for start, end in found:
        listed.append({"line": doc.text.count("\n", 0, start) + 1, "text": " ".join(doc.text[start:end].split())})
        text = text[:start] + "".join(ch if ch == "\n" else " " for ch in text[start:end]) + text[end:]
    metadata = {**doc.metadata, PLANTED_KEY: json.dumps(listed, ensure_ascii=False)}
    return replace(doc, text=text, metadata=metadata)


def planted_in(doc: Document) -> list[Planted]:
    """What was removed from a page as planted instructions, in page order."""
    raw = doc.metadata.get(PLANTED_KEY)
    return [Planted(doc.page_id, int(p["line"]), str(p["text"])) for p in json.loads(raw)] if raw else []


def without_planted(text: str) -> str:
    """`text` without its planted sentences (for passages of a page indexed before flagging existed)."""
    return " ".join(text[a:b] for a, b in sentence_spans(text) if not is_planted_instruction(text[a:b]))
