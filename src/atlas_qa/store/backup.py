"""Back up and restore a course's index as one archive: works for embedded and server stores alike.

The archive (`.tar.gz`) holds `index.json` (the index's facts), `pages.jsonl` and `chunks.jsonl` (ids, documents,
metadata and vectors), so restoring needs no re-embedding and can move an index from a laptop to a server.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

from ..errors import AtlasError
from .client import paged
from .index import Index
from .locks import LOCK_ID

FORMAT = "atlas-qa-index/1"


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()


def export_index(index: Index, path: Path) -> int:
    """Write the course's index to `path`; returns the number of pages. Holds the write lock meanwhile."""
    with index.write_lock():
        pages = [
            {"id": i, "document": d, "metadata": m}
            for ids, docs, metas, _ in paged(index.pages_collection, ["documents", "metadatas"])
            for i, d, m in zip(ids, docs, metas)
            if i != LOCK_ID
        ]
        chunks = []
        for ids, docs, metas, vectors in paged(index.collection, ["documents", "metadatas", "embeddings"]):
            chunks += [
                {"id": i, "document": d, "metadata": m, "embedding": [float(x) for x in v]}
                for i, d, m, v in zip(ids, docs, metas, vectors)
            ]
        facts = {"format": FORMAT, "course": index.settings.course, "meta": index.meta()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with tarfile.open(tmp, "w:gz") as tar:
        _add(tar, "index.json", json.dumps(facts, ensure_ascii=False, indent=2).encode())
        _add(tar, "pages.jsonl", _jsonl(pages))
        _add(tar, "chunks.jsonl", _jsonl(chunks))
    tmp.replace(path)  # a half-written archive never has the final name
    return len(pages)


def import_index(index: Index, path: Path, force: bool = False) -> int:
    """Restore an archive into the course's index (empty, or replaced with `force`); returns the number of pages.

    Takes the write lock first; the archive is written beside the index in use and replaces it in one switch when
    complete (`Index.replacing`), so an import killed at any moment leaves the old index or the new one.
    """
    with index.write_lock() as held:
        try:
            with tarfile.open(path, "r:gz") as tar:
                files = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]
            facts = json.loads(files["index.json"])
            pages = [json.loads(line) for line in files["pages.jsonl"].decode().splitlines() if line]
            chunks = [json.loads(line) for line in files["chunks.jsonl"].decode().splitlines() if line]
        except (OSError, KeyError, ValueError, tarfile.TarError) as exc:
            raise AtlasError(f"{path} is not an atlas-qa index archive ({exc}).") from None
        if facts.get("format") != FORMAT:
            raise AtlasError(f"{path} has format {facts.get('format')!r}; this atlas-qa reads {FORMAT}.")
        meta = facts["meta"]
        if meta.get("embedding_model") != index.embedder.name:
            raise AtlasError(
                f"{path} holds vectors of model {meta.get('embedding_model')!r}, not {index.embedder.name!r}: "
                "import it with that model (ATLAS_QA_MODEL)."
            )
        if index.check()["pages"] and not force:
            raise AtlasError(f"The course {index.settings.course!r} already has an index; add --force to replace it.")
        with index.replacing(held) as slot:
            for i in range(0, len(chunks), 1000):
                batch = chunks[i : i + 1000]
                held.check()
                slot.chunks.upsert(
                    ids=[c["id"] for c in batch],
                    embeddings=[c["embedding"] for c in batch],
                    documents=[c["document"] for c in batch],
                    metadatas=[c["metadata"] for c in batch],
                )
            for i in range(0, len(pages), 1000):
                batch = pages[i : i + 1000]
                held.check()
                slot.records.upsert(
                    ids=[p["id"] for p in batch],
                    embeddings=[[0.0]] * len(batch),
                    documents=[p["document"] for p in batch],
                    metadatas=[p["metadata"] for p in batch],
                )
            slot.meta.update({k: v for k, v in meta.items() if k in ("chunker", "last_ingest")})
    return len(pages)
