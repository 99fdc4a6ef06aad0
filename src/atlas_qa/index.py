"""The index: Chroma holds chunk vectors, a SQLite manifest holds pages and chunks, BM25 is built from the manifest.

Sync is incremental by content hash: unchanged pages are not re-embedded, changed pages replace only their chunks,
pages gone from an ingested folder are removed. Each page is written to Chroma first and to the manifest last, so an
interrupted ingest leaves pages that the next run sees as changed and redoes.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .chunking import CHUNKER_VERSION, chunk_document
from .config import Settings
from .embedding import Embedder
from .errors import AtlasError, IndexMismatchError
from .lexical import LexicalIndex, PageTerms
from .loaders import LoadResult, Skipped
from .types import Chunk, Document, Quotation, Reference, Section

SCHEMA_VERSION = "1"
COLLECTION = "atlas-qa"
WRITE_BATCH = 64


@dataclass
class IngestReport:
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    chunks: int = 0
    embedded: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    by_format: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "updated": self.updated,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "chunks": self.chunks,
            "embedded": self.embedded,
            "skipped": [asdict(s) for s in self.skipped],
            "by_format": self.by_format,
        }


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


FACETS = ("course", "topic", "chapter")


def _chunk_metadata(chunk: Chunk, doc: Document) -> dict[str, Any]:
    meta: dict[str, Any] = {"page_id": chunk.page_id, "position": chunk.position}
    for key in FACETS:
        if doc.metadata.get(key):
            meta[key] = doc.metadata[key]
    return meta


class Index:
    """One course's index in `settings.index_dir`: open it, sync documents into it, search it."""

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.settings = settings
        self.embedder = embedder
        self.dir = Path(settings.index_dir)
        self._db: sqlite3.Connection | None = None
        self._collection: Any = None
        self._cache_generation = -1
        self._chunks: list[Chunk] = []
        self._positions: dict[str, int] = {}
        self._lexical: LexicalIndex | None = None
        self._docs: dict[str, Document] = {}
        self._page_ids: list[str] = []
        self._page_terms: PageTerms | None = None

    # -- storage -------------------------------------------------------------------------------------------------

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            self.dir.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.dir / "manifest.sqlite3", check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(
                """
                CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                CREATE TABLE IF NOT EXISTS pages (
                    page_id TEXT PRIMARY KEY, source TEXT NOT NULL, hash TEXT NOT NULL, doc TEXT NOT NULL,
                    n_chunks INTEGER NOT NULL, indexed_at REAL NOT NULL);
                CREATE TABLE IF NOT EXISTS chunks (
                    id TEXT PRIMARY KEY, page_id TEXT NOT NULL, position INTEGER NOT NULL, chunk TEXT NOT NULL);
                CREATE INDEX IF NOT EXISTS chunks_page ON chunks(page_id, position);
                """
            )
            self._check_meta(db)
            self._db = db
        return self._db

    def _check_meta(self, db: sqlite3.Connection) -> None:
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        want = {"schema": SCHEMA_VERSION, "chunker": CHUNKER_VERSION, "model": self.embedder.name}
        if not meta:
            db.executemany("INSERT INTO meta VALUES (?, ?)", [*want.items(), ("generation", "0")])
            return
        if meta.get("model") != want["model"]:
            raise IndexMismatchError(
                f"The index in {self.dir} was built with embedding model {meta.get('model')!r}, not "
                f"{want['model']!r}. Use that model (ATLAS_QA_MODEL), or another --index-dir for this one."
            )
        if meta.get("schema") != want["schema"]:
            raise IndexMismatchError(
                f"The index in {self.dir} has schema {meta.get('schema')}, this atlas-qa reads schema "
                f"{SCHEMA_VERSION}. Delete the folder and run `atlas-qa ingest` to rebuild it."
            )

    @property
    def collection(self) -> Any:
        if self._collection is None:
            import chromadb
            from chromadb.config import Settings as ChromaSettings

            client = chromadb.PersistentClient(
                path=str(self.dir / "chroma"), settings=ChromaSettings(anonymized_telemetry=False)
            )
            self._collection = client.get_or_create_collection(
                COLLECTION,
                metadata={"embedding_model": self.embedder.name, "dimension": self.embedder.dimension},
                configuration={"hnsw": {"space": "cosine"}},
                embedding_function=None,
            )
            meta = self._collection.metadata or {}
            if meta.get("embedding_model") != self.embedder.name or meta.get("dimension") != self.embedder.dimension:
                raise IndexMismatchError(
                    f"The Chroma collection in {self.dir} holds vectors of model {meta.get('embedding_model')!r} "
                    f"(dimension {meta.get('dimension')}), not {self.embedder.name!r}: use another --index-dir."
                )
        return self._collection

    @contextmanager
    def _write_lock(self) -> Iterator[None]:
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".ingest.lock", "w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise AtlasError(f"Another ingest is writing to {self.dir}; wait for it to finish.") from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _generation(self) -> int:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        return int(row[0]) if row else 0

    # -- sync ----------------------------------------------------------------------------------------------------

    def page_hash(self, doc: Document) -> str:
        h = hashlib.sha256(document_to_json(doc).encode("utf-8", "surrogatepass"))
        h.update(f"|{CHUNKER_VERSION}|{self.settings.chunk_tokens}|{self.embedder.name}".encode())
        return h.hexdigest()

    def sync(self, loaded: LoadResult, progress: bool | Callable[[int, int], None] = False) -> IngestReport:
        """Bring the index in step with the loaded documents.

        Pages no longer present under one of `loaded.roots` are removed; pages from elsewhere are kept.
        """
        report = IngestReport(skipped=list(loaded.skipped), by_format=dict(loaded.by_format))
        with self._write_lock():
            known = {pid: (src, h) for pid, src, h in self.db.execute("SELECT page_id, source, hash FROM pages")}
            todo: list[tuple[Document, str, bool]] = []
            for doc in loaded.documents:
                h = self.page_hash(doc)
                if doc.page_id in known and known[doc.page_id][1] == h:
                    report.unchanged += 1
                else:
                    todo.append((doc, h, doc.page_id in known))
            loaded_ids = {d.page_id for d in loaded.documents}
            skipped_paths = {str(Path(s.path).resolve()) for s in loaded.skipped}
            gone = [
                pid
                for pid, (src, _) in known.items()
                if pid not in loaded_ids
                and src not in skipped_paths  # a file that failed to load keeps its last good version
                and any(_is_under(Path(src), root) for root in loaded.roots)
            ]
            for pid in gone:
                self._delete_page(pid)
                report.removed += 1

            planned = [(doc, h, existed, chunk_document(doc, self.settings.chunk_tokens, self.embedder.fits)) for doc, h, existed in todo]
            total = sum(len(c) for *_, c in planned)
            bar = _progress(total, progress)
            # Pages are embedded together in batches (throughput), then each is written whole (consistency).
            pending: list[tuple[Document, str, list[Chunk]]] = []
            for n, (doc, h, existed, chunks) in enumerate(planned):
                pending.append((doc, h, chunks))
                report.embedded += len(chunks)
                report.updated += existed
                report.added += not existed
                if sum(len(c) for *_, c in pending) >= WRITE_BATCH or n == len(planned) - 1:
                    texts = [c.embed_text for *_, cs in pending for c in cs]
                    vectors = self.embedder.embed_batch(texts) if texts else np.zeros((0, 1), np.float32)
                    bar.update(len(texts))
                    offset = 0
                    for p_doc, p_hash, p_chunks in pending:
                        self._write_page(p_doc, p_hash, p_chunks, vectors[offset : offset + len(p_chunks)])
                        offset += len(p_chunks)
                    pending = []
            bar.close()
            if gone or planned:
                self.db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")
            report.chunks = self.db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
            last = json.dumps({**report.to_json(), "finished_at": time.time()}, ensure_ascii=False)
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('last_ingest', ?)", (last,))
        return report

    def last_ingest(self) -> dict[str, Any] | None:
        """The summary of the last ingest (counts, skipped files with reasons, `finished_at`), if any."""
        row = self.db.execute("SELECT value FROM meta WHERE key = 'last_ingest'").fetchone()
        return json.loads(row[0]) if row else None

    def _write_page(self, doc: Document, page_hash: str, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        ids = [c.id for c in chunks]
        if chunks:
            self.collection.upsert(ids=ids, embeddings=vectors, metadatas=[_chunk_metadata(c, doc) for c in chunks])
        keep = set(ids)
        stale = [i for i in self.collection.get(where={"page_id": doc.page_id}, include=[])["ids"] if i not in keep]
        if stale:
            self.collection.delete(ids=stale)
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute("DELETE FROM chunks WHERE page_id = ?", (doc.page_id,))
            self.db.executemany(
                "INSERT INTO chunks VALUES (?, ?, ?, ?)",
                [(c.id, c.page_id, c.position, json.dumps(asdict(c), ensure_ascii=False)) for c in chunks],
            )
            self.db.execute(
                "INSERT OR REPLACE INTO pages VALUES (?, ?, ?, ?, ?, ?)",
                (doc.page_id, str(Path(doc.source).resolve()), page_hash, document_to_json(doc), len(chunks), time.time()),
            )

    def _delete_page(self, page_id: str) -> None:
        ids = self.collection.get(where={"page_id": page_id}, include=[])["ids"]
        if ids:
            self.collection.delete(ids=ids)
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute("DELETE FROM chunks WHERE page_id = ?", (page_id,))
            self.db.execute("DELETE FROM pages WHERE page_id = ?", (page_id,))

    # -- reading -------------------------------------------------------------------------------------------------

    def _refresh(self) -> None:
        generation = self._generation()
        if generation == self._cache_generation:
            return
        rows = self.db.execute("SELECT chunk FROM chunks ORDER BY page_id, position").fetchall()
        self._chunks = [Chunk(**json.loads(r[0])) for r in rows]
        self._positions = {c.id: i for i, c in enumerate(self._chunks)}
        self._lexical = None
        self._docs = {}
        self._page_ids = list(dict.fromkeys(c.page_id for c in self._chunks))
        self._page_terms = None
        self._cache_generation = generation

    @property
    def chunks(self) -> list[Chunk]:
        self._refresh()
        return self._chunks

    def chunk(self, chunk_id: str) -> Chunk:
        self._refresh()
        return self._chunks[self._positions[chunk_id]]

    @property
    def lexical(self) -> LexicalIndex:
        self._refresh()
        if self._lexical is None:
            self._lexical = LexicalIndex([c.embed_text for c in self._chunks])
        return self._lexical

    @property
    def page_ids(self) -> list[str]:
        """Ids of the pages that have chunks, in a stable order (the order of `page_terms`)."""
        self._refresh()
        return self._page_ids

    @property
    def page_terms(self) -> PageTerms:
        self._refresh()
        if self._page_terms is None:
            docs = [self.document(p) for p in self._page_ids]
            self._page_terms = PageTerms([(d.title, d.key_terms) for d in docs])
        return self._page_terms

    def document(self, page_id: str) -> Document:
        self._refresh()
        if page_id not in self._docs:
            row = self.db.execute("SELECT doc FROM pages WHERE page_id = ?", (page_id,)).fetchone()
            if row is None:
                raise AtlasError(f"No page {page_id!r} in the index at {self.dir}.")
            self._docs[page_id] = document_from_json(row[0])
        return self._docs[page_id]

    def pages(self) -> list[dict[str, Any]]:
        """Every indexed page: id, title, source, chunk count and when it was indexed."""
        rows = self.db.execute("SELECT page_id, source, n_chunks, indexed_at, doc FROM pages ORDER BY page_id").fetchall()
        return [
            {"page_id": p, "title": json.loads(d)["title"], "source": s, "chunks": n, "indexed_at": t}
            for p, s, n, t, d in rows
        ]

    def count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])

    def facets(self) -> dict[str, list[str]]:
        """The values of each filterable page field (course, topic, chapter) that some page has."""
        values: dict[str, set[str]] = {f: set() for f in FACETS}
        for pid in self.page_ids:
            meta = self.document(pid).metadata
            for f in FACETS:
                if meta.get(f):
                    values[f].add(meta[f])
        return {f: sorted(v) for f, v in values.items() if v}

    def pages_matching(self, filters: dict[str, str]) -> set[str]:
        """Ids of the pages whose metadata has every given value."""
        return {
            pid for pid in self.page_ids
            if all(self.document(pid).metadata.get(k) == v for k, v in filters.items())
        }

    def dense(self, vector: np.ndarray, n: int, filters: dict[str, str] | None = None) -> list[tuple[str, float]]:
        """The `n` nearest chunks to a unit vector: (chunk id, cosine similarity), optionally within page filters."""
        n = min(n, self.count())
        if n <= 0:
            return []
        where: dict[str, Any] | None = None
        if filters:
            clauses = [{k: v} for k, v in filters.items()]
            where = clauses[0] if len(clauses) == 1 else {"$and": clauses}
        res = self.collection.query(query_embeddings=[vector], n_results=n, where=where, include=["distances"])
        return [(i, 1.0 - float(d)) for i, d in zip(res["ids"][0], res["distances"][0])]


def _is_under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


class _NoBar:
    def update(self, n: int) -> None: ...
    def close(self) -> None: ...


class _CallbackBar:
    def __init__(self, total: int, callback: Callable[[int, int], None]) -> None:
        self.total, self.done, self.callback = total, 0, callback
        callback(0, total)

    def update(self, n: int) -> None:
        self.done += n
        self.callback(self.done, self.total)

    def close(self) -> None: ...


def _progress(total: int, show: bool | Callable[[int, int], None]) -> Any:
    """A tqdm bar on stderr (show=True), a callback(done, total) (the app's progress), or nothing."""
    if callable(show):
        return _CallbackBar(total, show)
    if not show or total == 0:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="chunk", desc="Embedding", dynamic_ncols=True)

