"""The index of one course, all in Chroma: embedded (`PersistentClient` in `index_dir`) or a server (`HttpClient`).

Two collections per course:
- `atlas-qa-<course>`: one record per chunk: its vector, its text, its fields as metadata;
- `atlas-qa-<course>-pages`: one record per page: the Document as JSON, its content hash and its chunk ids. The
  collection's metadata holds the index's own facts: model, dimension, schema, chunker, generation, last ingest.

A page's record lists the chunk ids that are its current version, and readers see only listed chunks (ingest.py
writes a page whole: chunks, then the record that switches to them). A reader's `Snapshot` is rebuilt from the
stored chunks when the generation changes (every process or replica does it once, not on every start of a query).

Replacing the whole index (`ingest --rebuild`, `index import --force`, `drop`) never empties it first: the new
version is built beside the old one, in a new *slot* (a chunk collection `atlas-qa-<course>--<slot>` and a record
collection `atlas-qa-<course>--<slot>-records`), and one write of the head's metadata switches readers to it
(`slot`, with a new generation, the same switch an ingest makes). The head is the fixed collection
`atlas-qa-<course>-pages`: the index's facts, the lock record and, for slot "" (an index never replaced), the page
records. The slot being built is named in the head (`building`) once its empty collections exist and before
anything is written to them (so an interrupted build always has a leftover to report); a kill at any moment leaves
the old index serving (plus the unfinished slot) or the new one (plus the old slot); `check()` reports either
leftover and the next writer removes it. The old slot is removed a moment after the switch, once
readers (who look for a new generation at most once a second) have moved on.

Chroma itself can be left unable to read a collection: an embedded store saves a collection's vector index (HNSW
files) beside its log every 1000 writes, in several files, not atomically; a kill in between leaves files a new
process cannot replay the log onto ("Failed to apply logs to the hnsw segment writer"). The first process to open the
index checks the collections of the slot in use and, under the write lock, recovers them (`_recover`): a page-record
collection (or the head) loses only its placeholder vectors, so its vector index is deleted for Chroma to rebuild
(`client.forget_vectors`); a chunk collection is built anew from the page records (each page's stored Document,
chunked and embedded again) in a new slot, the switch above, so a kill meanwhile leaves the damage to recover again.
`check()` lists what it recovered.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ..chunking import CHUNKER_VERSION, chunk_document
from ..config import Settings
from ..embedding import Embedder
from ..errors import AtlasError, IndexMismatchError
from ..lexical import LexicalIndex, PageTerms
from ..snapshot import Snapshot
from ..types import Chunk, Document
from .client import (
    READ_BATCH,
    Slot,
    collection_name,
    forget_vectors,
    fresh_client,
    make_client,
    mismatch_message,
    paged,
    slot_names,
    vectors_damaged,
)
from .locks import LOCK_ID, FileLock, Lease, course_lock
from .records import chunk_from_record, document_from_json, listed_chunks, page_records

log = logging.getLogger(__name__)

SCHEMA_VERSION = "2"
# Up to this many chunks a snapshot holds their vectors (1.5 KB each with MiniLM) and searches them exactly: Chroma's
# HNSW search is approximate, and which near chunks it misses differs from one process to the next (docs/retrieval.md).
EXACT_SEARCH_CHUNKS = 50_000
READER_GRACE_S = 2.0  # an old slot outlives the switch by this long: readers look for a new generation every second


class Index:
    """One course's index in Chroma: open and check it, lock it, replace it, read it (`ingest.sync` writes pages)."""

    def __init__(self, settings: Settings, embedder: Embedder, client: Any = None) -> None:
        self.settings = settings
        self.embedder = embedder
        self.dir = Path(settings.index_dir)
        self.name = collection_name(settings.course)
        self.where = settings.chroma_url or str(self.dir)
        self._client = client
        self._head_collection: Any = None
        self._collection: Any = None
        self._pages: Any = None
        self._slot = ""
        self._snapshot: Snapshot | None = None
        self._checked_at = 0.0
        self._built_chunker: str | None = None
        self._held: Lease | FileLock | None = None  # the write lock, while this process holds it
        self.recovered: list[str] = []  # what opening the index recovered (`_recover`)

    # -- storage -------------------------------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = make_client(self.settings)
        return self._client

    def _facts(self) -> dict[str, Any]:
        """What a new index (or a new slot) records about itself."""
        return {
            "embedding_model": self.embedder.name,
            "dimension": self.embedder.dimension,
            "schema": SCHEMA_VERSION,
            "chunker": CHUNKER_VERSION,
        }

    def _head(self) -> Any:
        """The fixed collection holding the index's facts and the lock (created on first use, when an embedded
        index's collections that Chroma cannot read are recovered; model and schema are not checked)."""
        if self._head_collection is None:
            self._head_collection = self.client.get_or_create_collection(
                f"{self.name}-pages", metadata={**self._facts(), "generation": 0}, embedding_function=None
            )
            if not self.settings.chroma_url:
                try:
                    self._recover()
                except BaseException:
                    self._head_collection = None  # tried again on the next use
                    raise
        return self._head_collection

    def meta(self) -> dict[str, Any]:
        """The index's facts, read afresh: another process or replica may have changed them."""
        self._head()
        return dict(self.client.get_collection(f"{self.name}-pages", embedding_function=None).metadata or {})

    def _open(self) -> None:
        """Open the collections of the slot the head names, once its model and schema are checked."""
        meta = self.meta()
        self._check_facts(meta)
        slot = str(meta.get("slot", ""))
        chunks, records = slot_names(self.name, slot)
        self._pages = self._head() if not slot else self.client.get_collection(records, embedding_function=None)
        self._collection = self.client.get_or_create_collection(
            chunks,
            metadata={"embedding_model": self.embedder.name, "dimension": self.embedder.dimension},
            configuration={"hnsw": {"space": "cosine"}},
            embedding_function=None,
        )
        self._slot = slot

    def _check_facts(self, meta: dict[str, Any]) -> None:
        """Refuse an index built with another model, or of another schema."""
        if meta.get("embedding_model") != self.embedder.name or meta.get("dimension") != self.embedder.dimension:
            raise IndexMismatchError(mismatch_message(self.where, self.settings.course, meta, self.embedder.name))
        if meta.get("schema") != SCHEMA_VERSION:
            raise IndexMismatchError(
                f"The index in {self.where} has schema {meta.get('schema')}; this atlas-qa reads schema "
                f"{SCHEMA_VERSION}. Rebuild it: `atlas-qa ingest --rebuild`."
            )

    def _unreadable(self) -> list[str]:
        """The collections of the slot in use (head, page records, chunks) whose vector index Chroma cannot read."""
        chunks, records = slot_names(self.name, str(self.meta().get("slot", "")))
        damaged = []
        for name in dict.fromkeys((f"{self.name}-pages", records, chunks)):
            try:
                self.client.get_collection(name, embedding_function=None).count()  # Chroma reads its log in
            except Exception as exc:  # noqa: BLE001 (absent, or another failure the next read reports)
                if vectors_damaged(exc):
                    damaged.append(name)
        return damaged

    def _recover(self) -> None:
        """Recover the collections of the slot in use that Chroma cannot read (see the module docstring), under the
        write lock; raise a clear `AtlasError` when they stay unreadable."""
        if not self._unreadable():
            return
        if self._held is None:
            with self.write_lock() as held:
                self._recover_under(held)
        else:
            self._recover_under(self._held)

    def _recover_under(self, held: Lease | FileLock) -> None:
        damaged = self._unreadable()  # again, under the lock: another process may have recovered them meanwhile
        chunks = slot_names(self.name, str(self.meta().get("slot", "")))[0]
        for name in damaged:
            if name != chunks:
                self._client = forget_vectors(self.settings, str(self.client.get_collection(name).id))
                self._head_collection = self.client.get_collection(f"{self.name}-pages", embedding_function=None)
                self._pages = self._collection = None
                self._note(f"{name}: vector index reset (its vectors are placeholders; no record lost)")
        skipped = ""
        if chunks in damaged:
            try:
                self._check_facts(self.meta())  # the chunks are embedded again: only with the index's own model
            except IndexMismatchError:
                skipped = chunks  # readers are refused anyway; `ingest --rebuild` replaces them
            else:
                pages = self._rebuild_chunks(held)
                self._note(f"{chunks}: chunks rebuilt from its {pages} page records, into slot {self._slot}")
        if still := [name for name in self._unreadable() if name != skipped]:
            raise AtlasError(
                f"Chroma cannot read the index in {self.where} (collections {', '.join(still)}: a damaged vector "
                "index) and atlas-qa could not recover it. Move the index folder aside and run `atlas-qa ingest` "
                "to build it anew (or `atlas-qa index import` a backup into the empty folder)."
            )

    def _note(self, what: str) -> None:
        log.warning("recovered the index in %s: %s", self.where, what)
        self.recovered.append(what)

    def _rebuild_chunks(self, held: Lease | FileLock) -> int:
        """Build the index anew from the page records of the slot in use (each page's stored Document, chunked and
        embedded again, written as ingest writes a page, its hash kept), in a new slot switched to when complete;
        returns the number of pages."""
        from ..ingest import PageWrite, write_pages  # ingest is the layer above: imported only to recover

        pages = 0
        with self.replacing(held) as slot:
            for ids, docs, metas, _ in paged(self.current_records(), ["documents", "metadatas"]):
                for pid, raw, meta in zip(ids, docs, metas):
                    if pid == LOCK_ID:
                        continue
                    doc = document_from_json(raw)
                    chunks = chunk_document(doc, self.settings.chunk_tokens, self.embedder.fits_all)
                    vectors = self.embedder.embed_batch([c.embed_text for c in chunks])
                    write_pages(self, [PageWrite(doc, chunks, vectors, meta.get("hash"))], held, known={}, slot=slot)
                    pages += 1
        return pages

    @property
    def pages_collection(self) -> Any:
        """The page records of the slot in use (checks model and schema on first use)."""
        if self._pages is None:
            self._open()
        return self._pages

    @property
    def collection(self) -> Any:
        """The chunk collection of the slot in use (vectors, texts, chunk fields)."""
        if self._collection is None:
            self._open()
        return self._collection

    def set_meta(self, **changes: Any) -> None:
        """Change the index's facts; a new `generation` tells every reader to reload."""
        self._head().modify(metadata={**self.meta(), **changes})
        self._snapshot = None  # this process wrote: reload on the next read

    @contextmanager
    def write_lock(self) -> Iterator[Lease | FileLock]:
        """One writer at a time: a file lock for an embedded index, a renewed lease on a Chroma server (locks.py).
        Yields the lock, whose `check()` a writer calls before each write. A Chroma server that cannot be reached
        becomes one `StoreUnavailableError`."""
        head = self._head if self.settings.chroma_url else None
        with course_lock(self.dir / f".ingest-{self.settings.course}.lock", head, self.where) as held:
            self._held = held
            try:
                yield held
            finally:
                self._held = None

    @contextmanager
    def replacing(self, held: Lease | FileLock) -> Iterator[Slot]:
        """A new, empty slot beside the index, for a new version of all of it; when the block completes, readers
        are switched to it (one metadata write) and the old slot is removed. Call under the write lock; fill
        `slot.meta` with the facts to record (`last_ingest`, ...)."""
        meta = self.meta()
        self.clear_leftovers()
        name = f"g{int(meta.get('generation', 0)) + 1}-{secrets.token_hex(3)}"
        chunks, records = slot_names(self.name, name)
        slot = Slot(
            name,
            self.client.create_collection(
                chunks, metadata=self._facts(), configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
            ),
            self.client.create_collection(records, metadata={"slot": name}, embedding_function=None),
        )
        # Named once its collections exist: a kill before this leaves collections the next writer finds by name; a
        # kill after it, an interrupted build with its leftovers (never a marker with nothing to clean).
        self.set_meta(building=name)
        yield slot
        held.check()
        meta = self.meta()
        old = str(meta.get("slot", ""))
        generation = int(meta.get("generation", 0)) + 1
        self.set_meta(**{**self._facts(), **slot.meta}, slot=name, building="", generation=generation)  # the switch
        self._pages, self._collection, self._slot = slot.records, slot.chunks, name
        time.sleep(READER_GRACE_S)
        self._remove_slot(old)

    def _remove_slot(self, slot: str) -> None:
        """Delete a slot no reader uses any more: its collections, or for slot "" the head's page records."""
        chunks, records = slot_names(self.name, slot)
        if not slot:
            head = self._head()
            stale = [i for ids, *_ in paged(head, []) for i in ids if i != LOCK_ID]
            for i in range(0, len(stale), READ_BATCH):
                head.delete(ids=stale[i : i + READ_BATCH])
        names = (chunks,) if not slot else (records, chunks)
        for name in names:
            try:
                self.client.delete_collection(name)
            except Exception:  # noqa: BLE001 (absent: nothing to remove; chromadb's error types vary by version)
                pass

    def _leftovers(self) -> tuple[list[str], int]:
        """What an interrupted replacement left: slots no reader uses, and stale page records in the head."""
        slot = str(self.meta().get("slot", ""))
        names = [c if isinstance(c, str) else c.name for c in self.client.list_collections()]
        prefix = f"{self.name}--"
        slots = {n[len(prefix) :].removesuffix("-records") for n in names if n.startswith(prefix)}
        stale = sorted(slots - {slot})
        head_records = 0
        if slot:
            stale += [""] if self.name in names else []
            head_records = sum(1 for ids, *_ in paged(self._head(), []) for i in ids if i != LOCK_ID)
        return stale, head_records

    def clear_leftovers(self) -> int:
        """Remove what an interrupted rebuild or import left (see the module docstring); under the write lock.
        Returns how many slots it removed."""
        stale, head_records = self._leftovers()
        for slot in stale:
            self._remove_slot(slot)
        if head_records:
            self._remove_slot("")
        if self.meta().get("building"):
            self.set_meta(building="")
        return len(stale) + bool(head_records)

    def drop(self) -> None:
        """Empty this course's index: an empty version replaces it, as a rebuild would (never half-empty)."""
        with self.write_lock() as held, self.replacing(held):
            pass
        self._snapshot = None

    def check_version(self) -> None:
        """Refuse to serve an index whose chunks an older chunker made: mixing versions would go unnoticed."""
        self.snapshot()
        built = self._built_chunker
        if built != CHUNKER_VERSION:
            raise IndexMismatchError(
                f"The index in {self.where} was built by an older atlas-qa (chunker {built}, now {CHUNKER_VERSION}): "
                "run `atlas-qa ingest` to upgrade it."
            )

    def generation(self) -> int:
        return int(self.meta().get("generation", 0))

    def page_records(self) -> dict[str, dict[str, Any]]:
        """Page id -> page record of the slot in use."""
        return page_records(self.pages_collection)

    def current_records(self) -> Any:
        """The page-record collection of the slot the head names now (read afresh: another writer may have switched
        slots since this process opened the index)."""
        slot = str(self.meta().get("slot", ""))
        return (
            self._head()
            if not slot
            else self.client.get_collection(slot_names(self.name, slot)[1], embedding_function=None)
        )

    def delete_page(self, page_id: str, record: dict[str, Any]) -> None:
        """Remove a page: its record (readers stop seeing it), then its chunks."""
        self.pages_collection.delete(ids=[page_id])
        ids = listed_chunks(record)
        if ids:
            self.collection.delete(ids=ids)

    def repair(self) -> int:
        """Remove what interrupted writes left: slots of an unfinished rebuild or import, chunks that no page lists,
        and pages whose chunks are missing (so that the next ingest redoes them). Returns how many it fixed. Call
        under the write lock."""
        fixed = self.clear_leftovers()
        listed: dict[str, str] = {}
        broken = []
        records = self.page_records()
        for pid, meta in records.items():
            for cid in listed_chunks(meta):
                listed[cid] = pid
        stored = {cid for ids, *_ in paged(self.collection, []) for cid in ids}
        orphans = sorted(stored - set(listed))
        missing_pages = {listed[cid] for cid in set(listed) - stored}
        for pid in missing_pages:
            broken.append(pid)
            self.delete_page(pid, records[pid])
        if orphans:
            for i in range(0, len(orphans), READ_BATCH):
                self.collection.delete(ids=orphans[i : i + READ_BATCH])
        if orphans or broken:
            self.set_meta(generation=self.generation() + 1)
        return fixed + len(orphans) + len(broken)

    def check(self) -> dict[str, Any]:
        """Compare the page records with the stored chunks, and look for what interrupted writes left.

        `missing`: chunks a page lists but the store lacks (an error: `ok` is false); `orphans`: stored chunks no page
        lists (left by an interrupted ingest; never read); `interrupted`: a rebuild or import that started and did not
        finish (the index before it still serves); `leftovers`: collections or records of versions no reader uses
        (an unfinished or replaced slot). The next ingest removes orphans and leftovers; `clean` says there are none.
        `recovered`: what opening the index recovered (collections Chroma could not read, see the module docstring).
        """
        records = self.page_records()
        listed = {cid for m in records.values() for cid in listed_chunks(m)}
        stored = {cid for ids, *_ in paged(self.collection, []) for cid in ids}
        stale, head_records = self._leftovers()
        meta = self.meta()
        interrupted = bool(meta.get("building")) and meta.get("building") != meta.get("slot", "")
        leftovers = len(stale) + head_records
        return {
            "pages": len(records),
            "chunks": len(listed),
            "missing": len(listed - stored),
            "orphans": len(stored - listed),
            "interrupted": interrupted,
            "leftovers": leftovers,
            "ok": listed <= stored,
            "clean": listed == stored and not interrupted and not leftovers,
            "recovered": self.recovered,
        }

    # -- reading -------------------------------------------------------------------------------------------------

    def snapshot(self, refresh: bool = False) -> Snapshot:
        """The index as this process sees it: reloaded when another process or replica has changed it (checked at
        most once a second, or now with `refresh`). A question reads one snapshot, so it never mixes two versions."""
        now = time.monotonic()
        current = self._snapshot
        if current is not None and not refresh and now - self._checked_at < 1.0:
            return current
        meta = self.meta()  # a store that does not answer raises here, at every question until it answers again
        self._checked_at = now
        self._built_chunker = meta.get("chunker")
        generation = int(meta.get("generation", 0))
        if current is not None and generation == current.generation:
            return current
        if str(meta.get("slot", "")) != self._slot:
            self._pages = self._collection = None  # a rebuild or import switched slots: open the new one
        records = self.page_records()
        visible = {cid for meta in records.values() for cid in listed_chunks(meta)}
        exact = len(visible) <= EXACT_SEARCH_CHUNKS
        try:
            chunks, vectors = self._visible_chunks(visible, exact)
        except Exception as exc:
            from chromadb.errors import ChromaError

            if not isinstance(exc, ChromaError) or not exact or self.settings.chroma_url:
                raise
            # Chroma read this collection's vectors into memory before another process rewrote them ("Error finding
            # id"): a new Chroma reads the files as they are now (its search is then as fresh as its records)
            self._client = fresh_client(self.settings)
            self._head_collection = self._pages = self._collection = None
            chunks, vectors = self._visible_chunks(visible, exact)
        self._snapshot = Snapshot(generation, chunks, records, self._fetch_document, vectors)
        return self._snapshot

    def _visible_chunks(self, visible: set[str], exact: bool) -> tuple[list[Chunk], np.ndarray | None]:
        """The chunks of the slot in use whose ids are in `visible`, with their vectors when `exact`."""
        chunks, vectors = [], []
        for ids, texts, metas, embeddings in paged(
            self.collection, ["documents", "metadatas", *(["embeddings"] if exact else [])]
        ):
            for cid, text, meta, vector in zip(ids, texts, metas, embeddings):
                if cid in visible:
                    chunks.append(chunk_from_record(cid, text, meta))
                    vectors.append(vector)
        return chunks, np.array(vectors, dtype=np.float32) if exact else None

    def _fetch_document(self, page_id: str) -> Document:
        got = self.pages_collection.get(ids=[page_id], include=["documents"])
        if not got["ids"]:
            raise AtlasError(f"No page {page_id!r} in the index at {self.where}.")
        return document_from_json(got["documents"][0])

    @property
    def chunks(self) -> list[Chunk]:
        return self.snapshot().chunks

    def chunk(self, chunk_id: str) -> Chunk:
        return self.snapshot().chunk(chunk_id)

    @property
    def lexical(self) -> LexicalIndex:
        return self.snapshot().lexical

    @property
    def page_ids(self) -> list[str]:
        """Ids of the pages that have chunks, in a stable order (the order of `page_terms`)."""
        return self.snapshot().page_ids

    @property
    def page_terms(self) -> PageTerms:
        return self.snapshot().page_terms

    def document(self, page_id: str) -> Document:
        return self.snapshot().document(page_id)

    def pages(self) -> list[dict[str, Any]]:
        """Every indexed page: id, title, source, chunk count and when it was indexed."""
        return self.snapshot().pages()

    def last_ingest(self) -> dict[str, Any] | None:
        """The summary of the last ingest (counts, skipped files with reasons, `finished_at`), if any."""
        raw = self.meta().get("last_ingest")
        return json.loads(raw) if raw else None

    def count(self) -> int:
        return len(self.chunks)

    def facets(self) -> dict[str, list[str]]:
        """The values of each filterable page field (course, topic, chapter) that some page has."""
        return self.snapshot().facets()

    def pages_matching(self, filters: dict[str, str]) -> set[str]:
        """Ids of the pages whose metadata has every given value."""
        return self.snapshot().pages_matching(filters)

    def dense(
        self, vector: np.ndarray, n: int, filters: dict[str, str] | None = None, view: Snapshot | None = None
    ) -> list[tuple[str, float]]:
        """The `n` nearest chunks to a unit vector visible in `view` (default: the current snapshot):
        (chunk id, cosine similarity), optionally filtered."""
        return self.dense_many([vector], n, filters, view)[0]

    def dense_many(
        self,
        vectors: Sequence[np.ndarray],
        n: int,
        filters: dict[str, str] | None = None,
        view: Snapshot | None = None,
    ) -> list[list[tuple[str, float]]]:
        """`dense` for several vectors at once: exactly, over the snapshot's vectors when it holds them
        (`EXACT_SEARCH_CHUNKS`), else in one Chroma query (one round trip to a server)."""
        view = view or self.snapshot()
        if n <= 0 or not len(vectors) or not view.chunks:
            return [[] for _ in vectors]
        if view.vectors is not None:
            return view.nearest(np.stack(vectors), n, view.pages_matching(filters) if filters else None)
        # Chroma returns fewer than n when it holds fewer, so no count() round trip on the hot path.
        where: dict[str, Any] | None = None
        if filters:
            clauses = [{k: v} for k, v in filters.items()]
            where = clauses[0] if len(clauses) == 1 else {"$and": clauses}
        res = self.collection.query(query_embeddings=list(vectors), n_results=n, where=where, include=["distances"])
        return [
            [(i, 1.0 - float(d)) for i, d in zip(ids, dists) if i in view.positions]
            for ids, dists in zip(res["ids"], res["distances"])
        ]
