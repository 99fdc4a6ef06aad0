"""The index of one course, all in Chroma: embedded (`PersistentClient` in `index_dir`) or a server (`HttpClient`).

Two collections per course:
- `atlas-qa-<course>`: one record per chunk: its vector, its text, its fields as metadata;
- `atlas-qa-<course>-pages`: one record per page: the Document as JSON, its content hash and its chunk ids. The
  collection's metadata holds the index's own facts: model, dimension, schema, chunker, generation, last ingest.

A page's record lists the chunk ids that are its current version, and readers see only listed chunks. A page is
written as: new chunks added, then its record replaced (the switch), then stale chunks deleted; so a query during
an ingest sees the old or the new version of a page, never half of one, and an ingest killed at any point leaves
pages that the next ingest sees as changed and redoes. BM25 and the page-level signals are rebuilt from the stored
chunk texts when the generation changes (every process or replica does it once, not on every start of a query).

Replacing the whole index (`ingest --rebuild`, `index import --force`, `drop`) never empties it first: the new
version is built beside the old one, in a new *slot* (a chunk collection `atlas-qa-<course>--<slot>` and a record
collection `atlas-qa-<course>--<slot>-records`), and one write of the head's metadata switches readers to it
(`slot`, with a new generation, the same switch an ingest makes). The head is the fixed collection
`atlas-qa-<course>-pages`: the index's facts, the lock record and, for slot "" (an index never replaced), the page
records. The slot being built is named in the head (`building`) before anything is written, so a kill at any
moment leaves the old index serving (plus the unfinished slot) or the new one (plus the old slot); `check()`
reports either leftover and the next writer removes it. The old slot is removed a moment after the switch, once
readers (who look for a new generation at most once a second) have moved on.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from .chunking import CHUNKER_VERSION, chunk_document
from .config import Settings
from .embedding import Embedder
from .errors import AtlasError, ConfigError, IndexMismatchError, StoreUnavailableError
from .lexical import LexicalIndex, PageTerms
from .loaders import LoadResult, Skipped
from .lock import LOCK_ID, FileLock, Lease, file_lock, lease, unavailable
from .types import Chunk, Document, Quotation, Reference, Section

SCHEMA_VERSION = "2"
EMBED_GROUP = 256  # chunks embedded together and written together by sync()
READ_BATCH = 5000
FACETS = ("course", "topic", "chapter")
READER_GRACE_S = 2.0  # an old slot outlives the switch by this long: readers look for a new generation every second
_CHUNK_FIELDS = ("page_id", "position", "start", "end", "title", "section", "speaker", "pages")


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


def _chunk_metadata(chunk: Chunk, doc: Document) -> dict[str, Any]:
    meta: dict[str, Any] = {f: getattr(chunk, f) for f in _CHUNK_FIELDS}
    for key in FACETS:
        if doc.metadata.get(key):
            meta[key] = doc.metadata[key]
    return meta


def _chunk_from_record(cid: str, text: str, meta: dict[str, Any]) -> Chunk:
    return Chunk(id=cid, text=text, **{f: meta.get(f, "") for f in _CHUNK_FIELDS})  # type: ignore[arg-type]


def collection_name(course: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,60}[A-Za-z0-9]|[A-Za-z0-9]", course) or "--" in course:
        raise ConfigError(
            f"Course name {course!r} is not usable: use letters, digits, '.', '_' or '-' (at most 62 characters, "
            "no '--')."
        )
    return f"atlas-qa-{course}"


def slot_names(base: str, slot: str) -> tuple[str, str]:
    """(chunk collection, page-record collection) of a slot of the index `base`; slot "" keeps its records in the
    head (`<base>-pages`)."""
    return (base, f"{base}-pages") if not slot else (f"{base}--{slot}", f"{base}--{slot}-records")


@dataclass
class Slot:
    """Where a version of the index lives: its chunk and page-record collections, and the facts to record with it."""

    name: str
    chunks: Any
    records: Any
    meta: dict[str, Any] = field(default_factory=dict)


def make_client(settings: Settings) -> Any:
    """Chroma's embedded client in `settings.index_dir`, or an HTTP client when `settings.chroma_url` is set."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ConfigError(f"ATLAS_QA_CHROMA_URL={settings.chroma_url!r} is not an http(s) URL.")
        headers = {"Authorization": f"Bearer {settings.chroma_token}"} if settings.chroma_token else None
        try:
            return chromadb.HttpClient(
                host=url.hostname,
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                headers=headers,
                settings=chroma_settings,
            )
        except Exception as exc:  # chromadb raises several kinds when the server is unreachable
            raise AtlasError(f"Cannot reach the Chroma server at {settings.chroma_url}: {exc}") from None
    path = Path(settings.index_dir) / "chroma"
    try:
        path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
    except Exception as exc:  # OSError, or chromadb's InternalError "attempt to write a readonly database"
        if isinstance(exc, OSError) or "readonly" in str(exc).replace("-", "").lower():
            raise StoreUnavailableError(read_only_message(settings.index_dir, exc)) from None
        raise


def read_only_message(folder: Path | str, exc: BaseException) -> str:
    """Why an index folder cannot be used when it cannot be written (Chroma opens its database read-write even to
    read it), and what to do."""
    why = exc.strerror if isinstance(exc, OSError) and exc.strerror else "its database is read-only"
    return (
        f"The index folder {folder} cannot be written ({why}): atlas-qa needs write access to it, even to read it. "
        "Give write permission, or choose another folder with --index-dir (ATLAS_QA_INDEX_DIR)."
    )


def list_courses(settings: Settings) -> list[str]:
    """Courses that have an index in this store."""
    names = [c if isinstance(c, str) else c.name for c in make_client(settings).list_collections()]
    return sorted(
        n[len("atlas-qa-") : -len("-pages")] for n in names if n.startswith("atlas-qa-") and n.endswith("-pages")
    )


def _mismatch(where: str, course: str, meta: dict[str, Any], wanted: str) -> str:
    """Why an index cannot be read with this embedder, and what to do."""
    built = str(meta.get("embedding_model"))
    said = (
        f"The index in {where} (course {course!r}) was built with embedding model {built!r} "
        f"(dimension {meta.get('dimension')}), not {wanted!r}. "
    )
    if built.split("@")[0] == wanted.split("@")[0]:  # same model, another backend
        backend = built.split("@")[1] if "@" in built else "torch (or onnx)"
        return said + (
            f"It was built with backend {backend}: set ATLAS_QA_BACKEND (or --backend) to it, or rebuild the index "
            "with this backend: `atlas-qa ingest --rebuild`."
        )
    return said + "Use that model (ATLAS_QA_MODEL), or another --index-dir or course for this one."


class Snapshot:
    """One generation of an index as read from Chroma: its visible chunks (by page, then position) and page records.
    Never changed once built; BM25, the page signals and page documents are built or fetched on first use."""

    def __init__(
        self,
        generation: int,
        chunks: list[Chunk],
        records: dict[str, dict[str, Any]],
        fetch_document: Callable[[str], Document],
    ) -> None:
        self.generation = generation
        self.chunks = sorted(chunks, key=lambda c: (c.page_id, c.position))
        self.positions = {c.id: i for i, c in enumerate(self.chunks)}
        self.records = records
        self.page_ids = list(dict.fromkeys(c.page_id for c in self.chunks))
        where = {p: i for i, p in enumerate(self.page_ids)}
        self.page_of = {c.id: where[c.page_id] for c in self.chunks}  # chunk id -> its page's place in page_ids
        self._fetch_document = fetch_document
        self._docs: dict[str, Document] = {}

    def chunk(self, chunk_id: str) -> Chunk:
        return self.chunks[self.positions[chunk_id]]

    def document(self, page_id: str) -> Document:
        if page_id not in self._docs:
            self._docs[page_id] = self._fetch_document(page_id)
        return self._docs[page_id]

    @cached_property
    def lexical(self) -> LexicalIndex:
        return LexicalIndex([c.embed_text for c in self.chunks])

    @cached_property
    def page_terms(self) -> PageTerms:
        docs = [self.document(p) for p in self.page_ids]
        return PageTerms([(d.title, d.key_terms) for d in docs])


class Index:
    """One course's index: open it, sync documents into it, search it."""

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
        self._held: Lease | FileLock = FileLock()  # the write lock while this process writes (see `sync`)
        self._snapshot: Snapshot | None = None
        self._checked_at = 0.0
        self._built_chunker: str | None = None

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
        """The fixed collection holding the index's facts and the lock (created on first use; nothing checked)."""
        if self._head_collection is None:
            self._head_collection = self.client.get_or_create_collection(
                f"{self.name}-pages", metadata={**self._facts(), "generation": 0}, embedding_function=None
            )
        return self._head_collection

    def _meta(self) -> dict[str, Any]:
        """The index's facts, read afresh: another process or replica may have changed them."""
        self._head()
        return dict(self.client.get_collection(f"{self.name}-pages", embedding_function=None).metadata or {})

    def _open(self) -> None:
        """Open the collections of the slot the head names, once its model and schema are checked."""
        meta = self._meta()
        if meta.get("embedding_model") != self.embedder.name or meta.get("dimension") != self.embedder.dimension:
            raise IndexMismatchError(_mismatch(self.where, self.settings.course, meta, self.embedder.name))
        if meta.get("schema") != SCHEMA_VERSION:
            raise IndexMismatchError(
                f"The index in {self.where} has schema {meta.get('schema')}; this atlas-qa reads schema "
                f"{SCHEMA_VERSION}. Rebuild it: `atlas-qa ingest --rebuild`."
            )
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

    def _set_meta(self, **changes: Any) -> None:
        self._head().modify(metadata={**self._meta(), **changes})
        self._snapshot = None  # this process wrote: reload on the next read

    @contextmanager
    def write_lock(self) -> Iterator[Lease | FileLock]:
        """One writer at a time: a file lock for an embedded index, a renewed lease on a Chroma server (lock.py).
        Yields the lock, whose `check()` a writer calls before each write. A Chroma server that cannot be reached
        becomes one `StoreUnavailableError`."""
        try:
            if self.settings.chroma_url:
                with lease(self._head(), self.where) as held:
                    yield held
            else:
                lock_file = self.dir / f".ingest-{self.settings.course}.lock"
                try:
                    self.dir.mkdir(parents=True, exist_ok=True)
                    open(lock_file, "a").close()  # a read-only folder: one clear error, before anything else
                except OSError as exc:
                    raise StoreUnavailableError(read_only_message(self.dir, exc)) from None
                with file_lock(lock_file, self.where) as locked:
                    yield locked
        except Exception as exc:
            if (error := unavailable(exc, self.where)) is not None:
                raise error from None
            raise

    @contextmanager
    def replacing(self, held: Lease | FileLock) -> Iterator[Slot]:
        """A new, empty slot beside the index, for a new version of all of it; when the block completes, readers
        are switched to it (one metadata write) and the old slot is removed. Call under the write lock; fill
        `slot.meta` with the facts to record (`last_ingest`, ...)."""
        meta = self._meta()
        self.clear_leftovers()
        name = f"g{int(meta.get('generation', 0)) + 1}-{secrets.token_hex(3)}"
        self._set_meta(building=name)  # first, so that a kill from here on leaves leftovers the next writer finds
        chunks, records = slot_names(self.name, name)
        slot = Slot(
            name,
            self.client.create_collection(
                chunks, metadata=self._facts(), configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
            ),
            self.client.create_collection(records, metadata={"slot": name}, embedding_function=None),
        )
        yield slot
        held.check()
        meta = self._meta()
        old = str(meta.get("slot", ""))
        generation = int(meta.get("generation", 0)) + 1
        self._set_meta(**{**self._facts(), **slot.meta}, slot=name, building="", generation=generation)  # the switch
        self._pages, self._collection, self._slot = slot.records, slot.chunks, name
        time.sleep(READER_GRACE_S)
        self._remove_slot(old)

    def _remove_slot(self, slot: str) -> None:
        """Delete a slot no reader uses any more: its collections, or for slot "" the head's page records."""
        chunks, records = slot_names(self.name, slot)
        if not slot:
            head = self._head()
            stale = [i for ids, _, _ in _paged(head, []) for i in ids if i != LOCK_ID]
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
        slot = str(self._meta().get("slot", ""))
        names = [c if isinstance(c, str) else c.name for c in self.client.list_collections()]
        prefix = f"{self.name}--"
        slots = {n[len(prefix) :].removesuffix("-records") for n in names if n.startswith(prefix)}
        stale = sorted(slots - {slot})
        head_records = 0
        if slot:
            stale += [""] if self.name in names else []
            head_records = sum(1 for ids, _, _ in _paged(self._head(), []) for i in ids if i != LOCK_ID)
        return stale, head_records

    def clear_leftovers(self) -> int:
        """Remove what an interrupted rebuild or import left (see the module docstring); under the write lock.
        Returns how many slots it removed."""
        stale, head_records = self._leftovers()
        for slot in stale:
            self._remove_slot(slot)
        if head_records:
            self._remove_slot("")
        if self._meta().get("building"):
            self._set_meta(building="")
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
        return int(self._meta().get("generation", 0))

    # -- sync ----------------------------------------------------------------------------------------------------

    def page_hash(self, doc: Document) -> str:
        h = hashlib.sha256(document_to_json(doc).encode("utf-8", "surrogatepass"))
        h.update(f"|{CHUNKER_VERSION}|{self.settings.chunk_tokens}|{self.embedder.name}".encode())
        return h.hexdigest()

    def _page_records(self) -> dict[str, dict[str, Any]]:
        return _records(self.pages_collection)

    def sync(
        self, loaded: LoadResult, progress: bool | Callable[[int, int], None] = False, rebuild: bool = False
    ) -> IngestReport:
        """Bring the index in step with the loaded documents.

        Pages no longer present under one of `loaded.roots` are removed; pages from elsewhere are kept; a page whose
        file (or a folder above it) failed to load keeps its last good version. `rebuild`: build the whole index
        anew beside the old one (every page re-embedded, pages from other roots left out) and switch to it when it
        is complete; a page that could not be read is rebuilt from its last good version.
        """
        report = IngestReport(skipped=list(loaded.skipped), by_format=dict(loaded.by_format))
        with self.write_lock() as held:
            self._held = held  # the writer thread checks it before each of its requests
            if rebuild:
                with self.replacing(held) as slot:
                    docs = [*loaded.documents, *self._unreadable_pages(loaded)]
                    self._embed_and_write(
                        [(d, self.page_hash(d), False) for d in docs], {}, held, report, progress, slot
                    )
                    report.chunks = sum(int(m.get("n_chunks", 0)) for m in _records(slot.records).values())
                    slot.meta.update(last_ingest=_summary(report))
                return report
            self.repair()
            known = self._page_records()
            todo: list[tuple[Document, str, bool]] = []
            for doc in loaded.documents:
                h = self.page_hash(doc)
                if doc.page_id in known and known[doc.page_id].get("hash") == h:
                    report.unchanged += 1
                else:
                    todo.append((doc, h, doc.page_id in known))
            loaded_ids, skipped = {d.page_id for d in loaded.documents}, _skipped(loaded)
            gone = [
                pid
                for pid, meta in known.items()
                if pid not in loaded_ids
                and any(_is_under(Path(str(meta.get("source"))), root) for root in loaded.roots)
                and not _unreadable(meta, skipped)
            ]
            for pid in gone:
                held.check()
                self._delete_page(pid, known[pid])
                report.removed += 1
            self._embed_and_write(todo, known, held, report, progress)
            report.chunks = sum(int(m.get("n_chunks", 0)) for m in self._page_records().values())
            changes: dict[str, Any] = {"last_ingest": _summary(report), "chunker": CHUNKER_VERSION}
            if gone or todo:
                changes["generation"] = self.generation() + 1
            held.check()
            self._set_meta(**changes)
        return report

    def _unreadable_pages(self, loaded: LoadResult) -> list[Document]:
        """The indexed pages whose file, or a folder above it, could not be read this time (as last indexed)."""
        meta = self._meta()
        records = (
            self._head()
            if not meta.get("slot")
            else self.client.get_collection(slot_names(self.name, str(meta["slot"]))[1], embedding_function=None)
        )
        loaded_ids, skipped = {d.page_id for d in loaded.documents}, _skipped(loaded)
        keep = [pid for pid, m in _records(records).items() if pid not in loaded_ids and _unreadable(m, skipped)]
        got = records.get(ids=keep, include=["documents"]) if keep else {"documents": []}
        return [document_from_json(d) for d in got["documents"]]

    def _embed_and_write(
        self,
        todo: list[tuple[Document, str, bool]],
        known: dict[str, dict[str, Any]],
        held: Lease | FileLock,
        report: IngestReport,
        progress: bool | Callable[[int, int], None],
        slot: Slot | None = None,
    ) -> None:
        """Chunk, embed and write the pages (into `slot`, or the index in use), checking the lock before each write."""
        planned = [
            (doc, h, existed, chunk_document(doc, self.settings.chunk_tokens, self.embedder.fits_all))
            for doc, h, existed in todo
        ]
        if planned:
            self.embedder.load()  # a first-use model preparation is announced before the bar, not inside it
        bar = _progress(sum(len(c) for *_, c in planned), progress)
        # Pages are embedded in groups of about EMBED_GROUP chunks (sorted by length inside a group, so little
        # padding), and each group is written by one thread while the next one is embedded.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="atlas-qa-write") as writer:
            writing: Future[None] | None = None
            for group in _groups(planned, EMBED_GROUP):
                texts = [c.embed_text for *_, chunks in group for c in chunks]
                vectors = self.embedder.embed_batch(texts) if texts else np.zeros((0, 1), np.float32)
                if writing is not None:
                    writing.result()  # one group in flight; a failed write stops the ingest here
                held.check()
                pages = [(doc, h, chunks) for doc, h, _, chunks in group]
                extra = (slot,) if slot is not None else ()
                writing = writer.submit(self._write_pages, pages, vectors, known, *extra)
                bar.update(len(texts))
                for _, _, existed, chunks in group:
                    report.embedded += len(chunks)
                    report.updated += existed
                    report.added += not existed
            if writing is not None:
                writing.result()
        bar.close()

    def _write_pages(
        self,
        pages: Sequence[tuple[Document, str, list[Chunk]]],
        vectors: np.ndarray,
        known: dict[str, dict[str, Any]],
        slot: Slot | None = None,
    ) -> None:
        """Write whole pages: their new chunks, then their records (the switch), then their stale chunks' removal."""
        chunk_collection = slot.chunks if slot is not None else self.collection
        record_collection = slot.records if slot is not None else self.pages_collection
        chunks = [(c, doc) for doc, _, cs in pages for c in cs]
        for i in range(0, len(chunks), READ_BATCH):
            part = chunks[i : i + READ_BATCH]
            self._held.check()
            chunk_collection.upsert(
                ids=[c.id for c, _ in part],
                embeddings=vectors[i : i + len(part)],
                documents=[c.text for c, _ in part],
                metadatas=[_chunk_metadata(c, doc) for c, doc in part],
            )
        now = time.time()
        records = [
            {
                "hash": page_hash,
                "source": str(Path(doc.source).resolve()),
                "n_chunks": len(cs),
                "indexed_at": now,
                "chunk_ids": json.dumps([c.id for c in cs]),
            }
            for doc, page_hash, cs in pages
        ]
        self._held.check()  # a writer that lost its lock while paused must not switch pages to chunks it wrote
        record_collection.upsert(
            ids=[doc.page_id for doc, _, _ in pages],
            embeddings=[[0.0]] * len(pages),
            documents=[document_to_json(doc) for doc, _, _ in pages],
            metadatas=records,  # type: ignore[arg-type]
        )
        stale: set[str] = set()
        for doc, _, cs in pages:
            if old := known.get(doc.page_id):
                stale |= set(json.loads(old["chunk_ids"])) - {c.id for c in cs}
        if stale:
            self._held.check()
            chunk_collection.delete(ids=sorted(stale))

    def _delete_page(self, page_id: str, record: dict[str, Any]) -> None:
        self.pages_collection.delete(ids=[page_id])
        ids = json.loads(record.get("chunk_ids", "[]"))
        if ids:
            self.collection.delete(ids=ids)

    def repair(self) -> int:
        """Remove what interrupted writes left: slots of an unfinished rebuild or import, chunks that no page lists,
        and pages whose chunks are missing (so that the next ingest redoes them). Returns how many it fixed. Call
        under the write lock."""
        fixed = self.clear_leftovers()
        listed: dict[str, str] = {}
        broken = []
        records = self._page_records()
        for pid, meta in records.items():
            for cid in json.loads(meta.get("chunk_ids", "[]")):
                listed[cid] = pid
        stored = {cid for ids, _, _ in _paged(self.collection, []) for cid in ids}
        orphans = sorted(stored - set(listed))
        missing_pages = {listed[cid] for cid in set(listed) - stored}
        for pid in missing_pages:
            broken.append(pid)
            self._delete_page(pid, records[pid])
        if orphans:
            for i in range(0, len(orphans), READ_BATCH):
                self.collection.delete(ids=orphans[i : i + READ_BATCH])
        if orphans or broken:
            self._set_meta(generation=self.generation() + 1)
        return fixed + len(orphans) + len(broken)

    def check(self) -> dict[str, Any]:
        """Compare the page records with the stored chunks, and look for what interrupted writes left.

        `missing`: chunks a page lists but the store lacks (an error: `ok` is false); `orphans`: stored chunks no page
        lists (left by an interrupted ingest; never read); `interrupted`: a rebuild or import that started and did not
        finish (the index before it still serves); `leftovers`: collections or records of versions no reader uses
        (an unfinished or replaced slot). The next ingest removes orphans and leftovers; `clean` says there are none.
        """
        records = self._page_records()
        listed = {cid for m in records.values() for cid in json.loads(m.get("chunk_ids", "[]"))}
        stored = {cid for ids, _, _ in _paged(self.collection, []) for cid in ids}
        stale, head_records = self._leftovers()
        meta = self._meta()
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
        }

    # -- reading -------------------------------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """The index as this process sees it: reloaded when another process or replica has changed it (checked at
        most once a second). One search reads one snapshot, so it never mixes two versions of the index."""
        now = time.monotonic()
        current = self._snapshot
        if current is not None and now - self._checked_at < 1.0:
            return current
        self._checked_at = now
        meta = self._meta()
        self._built_chunker = meta.get("chunker")
        generation = int(meta.get("generation", 0))
        if current is not None and generation == current.generation:
            return current
        if str(meta.get("slot", "")) != self._slot:
            self._pages = self._collection = None  # a rebuild or import switched slots: open the new one
        records = self._page_records()
        visible = {cid for meta in records.values() for cid in json.loads(meta.get("chunk_ids", "[]"))}
        chunks = [
            _chunk_from_record(cid, text, meta)
            for ids, texts, metas in _paged(self.collection, ["documents", "metadatas"])
            for cid, text, meta in zip(ids, texts, metas)
            if cid in visible
        ]
        self._snapshot = Snapshot(generation, chunks, records, self._fetch_document)
        return self._snapshot

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
        view = self.snapshot()
        return [
            {
                "page_id": pid,
                "title": view.document(pid).title,
                "source": meta.get("source", ""),
                "chunks": int(meta.get("n_chunks", 0)),
                "indexed_at": float(meta.get("indexed_at", 0.0)),
            }
            for pid, meta in sorted(view.records.items())
        ]

    def last_ingest(self) -> dict[str, Any] | None:
        """The summary of the last ingest (counts, skipped files with reasons, `finished_at`), if any."""
        raw = self._meta().get("last_ingest")
        return json.loads(raw) if raw else None

    def count(self) -> int:
        return len(self.chunks)

    def facets(self) -> dict[str, list[str]]:
        """The values of each filterable page field (course, topic, chapter) that some page has."""
        view = self.snapshot()
        values: dict[str, set[str]] = {f: set() for f in FACETS}
        for pid in view.page_ids:
            meta = view.document(pid).metadata
            for f in FACETS:
                if meta.get(f):
                    values[f].add(meta[f])
        return {f: sorted(v) for f, v in values.items() if v}

    def pages_matching(self, filters: dict[str, str]) -> set[str]:
        """Ids of the pages whose metadata has every given value."""
        view = self.snapshot()
        return {
            pid for pid in view.page_ids if all(view.document(pid).metadata.get(k) == v for k, v in filters.items())
        }

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
        """`dense` for several vectors in one Chroma query (one round trip to a server)."""
        view = view or self.snapshot()
        # Chroma returns fewer than n when it holds fewer, so no count() round trip on the hot path.
        if n <= 0 or not len(vectors) or not view.chunks:
            return [[] for _ in vectors]
        where: dict[str, Any] | None = None
        if filters:
            clauses = [{k: v} for k, v in filters.items()]
            where = clauses[0] if len(clauses) == 1 else {"$and": clauses}
        res = self.collection.query(query_embeddings=list(vectors), n_results=n, where=where, include=["distances"])
        return [
            [(i, 1.0 - float(d)) for i, d in zip(ids, dists) if i in view.positions]
            for ids, dists in zip(res["ids"], res["distances"])
        ]


def _paged(collection: Any, include: list[str]) -> Iterator[tuple[list[str], list[Any], list[Any]]]:
    """Every record of a collection, READ_BATCH at a time: (ids, documents, metadatas)."""
    offset = 0
    while True:
        got = collection.get(limit=READ_BATCH, offset=offset, include=include)
        ids = got["ids"]
        if not ids:
            return
        yield ids, got.get("documents") or [None] * len(ids), got.get("metadatas") or [None] * len(ids)
        if len(ids) < READ_BATCH:
            return
        offset += len(ids)


def _is_under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _unreadable(record: dict[str, Any], skipped: set[Path]) -> bool:
    """Whether a page's file, or a folder above it, is among the `skipped` paths: "cannot read" is not "deleted"."""
    source = Path(str(record.get("source")))
    return bool(skipped.intersection([source, *source.parents]))


def _skipped(loaded: LoadResult) -> set[Path]:
    return {Path(s.path).resolve() for s in loaded.skipped}


def _records(collection: Any) -> dict[str, dict[str, Any]]:
    """Page id -> page record of a record collection (the lock record left out)."""
    return {
        pid: m for ids, _, metas in _paged(collection, ["metadatas"]) for pid, m in zip(ids, metas) if pid != LOCK_ID
    }


def _summary(report: IngestReport) -> str:
    return json.dumps({**report.to_json(), "finished_at": time.time()}, ensure_ascii=False)


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


def _groups(planned: list[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive runs of whole pages (items whose last element is their chunk list) of about `size` chunks."""
    group: list[Any] = []
    count = 0
    for item in planned:
        group.append(item)
        count += len(item[-1])
        if count >= size:
            yield group
            group, count = [], 0
    if group:
        yield group


def _progress(total: int, show: bool | Callable[[int, int], None]) -> Any:
    """A tqdm bar on stderr (show=True), a callback(done, total) (the app's progress), or nothing."""
    if callable(show):
        return _CallbackBar(total, show)
    if not show or total == 0:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="chunk", desc="Embedding", dynamic_ncols=True)
