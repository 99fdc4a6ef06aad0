"""Paragraph and sentence spans of a text, as (start, end) offsets into it, and a page sentence's display form (the
one rule of what is dropped from a page's text when a sentence is shown)."""

from __future__ import annotations

import re

# Not shown in an answer: footnote markers, Markdown bold, and the empty brackets a dropped figure link leaves ("...
# known as trade rounds ().").
DISPLAY_NOISE = re.compile(r"\[\^[^\]\s]+\]|\*\*|\s*\(\s*\)")
_PARA = re.compile(r"\S(?:.*?\S)?(?=\n\s*\n|\s*\Z)", re.S)
# What a figure or table does, in the words a book uses to point at one ("Table 12.2 summarizes ...").
FIGURE_VERBS = (
    r"(?:shows|illustrates|lists|summari[sz]es|compares|presents|depicts|displays|outlines|highlights|provides)"
)
# A sentence ends at . ! ? (optionally followed by closing quotes, brackets or a footnote marker) before
# whitespace and a capital, digit or opening quote, bold or not (a sentence may open with a **key term**);
# abbreviations such as "p.", "et al." or the "v." of a court case ("Shelby County v. Holder") do not end one.
# A full stop after a word or a citation also ends one before a figure's verb: a page whose figure links were dropped
# reads "... (Harvard University, 2019). summarizes the characteristics of ...", the table's name gone.
_END = re.compile(
    r"[.!?][”’\"')\]]*(?:\[\^[^\]\s]+\])*(?=\s+(?:\*\*|_)?[“\"'(\[A-Z0-9])"
    rf"|(?:(?<=[a-z]{{2}})|(?<=\)))\.(?:\[\^[^\]\s]+\])*(?=\s+{FIGURE_VERBS}\s)"
)
_ABBREV = re.compile(
    r"(?:\b(?:p|pp|Pp|al|e\.g|i\.e|cf|v|vs|etc|ed|eds|vol|Vol|no|Dr|Mr|Mrs|Ms|Prof|St|Jr|Sr|U\.S|Inc|Co|Ltd|Fig|ch|Ch)|\b[A-Z])\.$"
)


def paragraph_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Non-blank paragraphs (separated by blank lines) of text[start:end]."""
    end = len(text) if end is None else end
    return [(start + m.start(), start + m.end()) for m in _PARA.finditer(text[start:end])]


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentences of text[start:end], whitespace trimmed; every non-blank character lands in one sentence."""
    end = len(text) if end is None else end
    spans = []
    for p_start, p_end in paragraph_spans(text, start, end):
        s = p_start
        for m in _END.finditer(text, p_start, p_end):
            if _ABBREV.search(text[max(s, m.start() - 6) : m.start() + 1]):
                continue
            spans.append((s, m.end()))
            s = m.end()
            while s < p_end and text[s].isspace():
                s += 1
        if s < p_end:
            spans.append((s, p_end))
    return spans


def clean(sentence: str) -> str:
    """Display form of a page sentence: footnote markers, Markdown emphasis and empty brackets dropped, white space
    folded."""
    return " ".join(DISPLAY_NOISE.sub("", sentence).split())


def folded(text: str) -> tuple[str, list[int]]:
    """`text` in display form (`clean`), with the offset in `text` of each character kept."""
    out: list[str] = []
    where: list[int] = []
    i = 0
    while i < len(text):
        m = DISPLAY_NOISE.match(text, i)
        if m:
            i = m.end()
            continue
        ch = text[i]
        if ch.isspace():
            if out and out[-1] != " ":
                out.append(" ")
                where.append(i)
        else:
            out.append(ch)
            where.append(i)
        i += 1
    if out and out[-1] == " ":
        out.pop()
        where.pop()
    return "".join(out), where
