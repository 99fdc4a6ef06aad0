"""What a page and its chunks become in Chroma, and back: a chunk record (text, fields as metadata) and a page
record (the Document as JSON; its hash, source and chunk ids as metadata)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..types import Chunk, Document, Quotation, Reference, Section
from .client import paged
from .locks import LOCK_ID

FACETS = ("course", "topic", "chapter")
CHUNK_FIELDS = ("page_id", "position", "start", "end", "title", "section", "speaker", "pages")


def document_to_json(doc: Document) -> str:
    return json.dumps(asdict(doc), ensure_ascii=False, sort_keys=True)


def document_from_json(raw: str) -> Document:
    d = json.loads(raw)
    return Document(
        **{k: v for k, v in d.items() if k not in ("sections", "quotations", "references", "key_terms")},
        sections=tuple(Section(**s) for s in d["sections"]),
        quotations=tuple(Quotation(**q) for q in d["quotations"]),
        references=tuple(Reference(**{**r, "authors": tuple(r["authors"])}) for r in d["references"]),
        key_terms=tuple(d.get("key_terms", ())),
    )


def chunk_metadata(chunk: Chunk, doc: Document) -> dict[str, Any]:
    """A chunk record's metadata: the chunk's fields and its page's facets (what `where` filters on)."""
    meta: dict[str, Any] = {f: getattr(chunk, f) for f in CHUNK_FIELDS}
    for key in FACETS:
        if doc.metadata.get(key):
            meta[key] = doc.metadata[key]
    return meta


def chunk_from_record(cid: str, text: str, meta: dict[str, Any]) -> Chunk:
    return Chunk(id=cid, text=text, **{f: meta.get(f, "") for f in CHUNK_FIELDS})  # type: ignore[arg-type]


def page_metadata(doc: Document, page_hash: str, chunks: list[Chunk], indexed_at: float) -> dict[str, Any]:
    """A page record's metadata: its content hash, source file, and the chunk ids that are its current version."""
    return {
        "hash": page_hash,
        "source": str(Path(doc.source).resolve()),
        "n_chunks": len(chunks),
        "indexed_at": indexed_at,
        "chunk_ids": json.dumps([c.id for c in chunks]),
    }


def listed_chunks(record: dict[str, Any]) -> list[str]:
    """The chunk ids a page record lists."""
    return list(json.loads(record.get("chunk_ids", "[]")))


def page_records(collection: Any) -> dict[str, dict[str, Any]]:
    """Page id -> page record of a record collection (the lock record left out)."""
    return {
        pid: m for ids, _, metas, _ in paged(collection, ["metadatas"]) for pid, m in zip(ids, metas) if pid != LOCK_ID
    }
