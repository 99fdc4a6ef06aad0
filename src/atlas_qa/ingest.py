"""Ingest: bring a course's index in step with the loaded documents: diff, chunk, embed, write, report, progress.

A page is written whole by `write_pages`, the one write path: its new chunks added, then its record replaced (the
switch), then its stale chunks deleted; so a query during an ingest sees the old or the new version of a page, never
half of one, and an ingest killed at any point leaves pages that the next ingest sees as changed and redoes
(store/index.py describes the rest of the protocol: slots, generations, the write lock).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .chunking import CHUNKER_VERSION, chunk_document
from .errors import AtlasError, StoreUnavailableError
from .loaders import LoadResult, Skipped, file_of
from .planted import Planted, flag_planted, planted_in
from .store.client import LOW_SPACE, READ_BATCH, Slot, disk_full, disk_full_message, free_space
from .store.index import Index
from .store.locks import FileLock, Lease
from .store.records import (
    chunk_metadata,
    document_from_json,
    document_to_json,
    listed_chunks,
    page_metadata,
    page_records,
)
from .types import Chunk, Document

EMBED_GROUP = 256  # chunks embedded together and written together by sync()


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
    planted: list[Planted] = field(default_factory=list)  # instructions found in the loaded pages, kept out

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
            "planted": [asdict(p) for p in self.planted],
        }

    def summary(self) -> list[str]:
        """What an ingest did, for people: one line, a line per format when there are several, a line per skip."""
        if self.embedded == 0 and not (self.removed or self.added or self.updated):
            lines = [f"Index up to date: {self.unchanged} pages unchanged, nothing embedded ({self.chunks} chunks)."]
        else:
            lines = [
                f"Indexed: {self.added} added, {self.updated} updated, {self.removed} removed, "
                f"{self.unchanged} unchanged; {self.embedded} chunks embedded, {self.chunks} in the index."
            ]
        if len(self.by_format) > 1 or self.skipped:
            formats = ", ".join(f"{k} {v['loaded']} loaded, {v['skipped']} skipped" for k, v in self.by_format.items())
            lines.append(f"By format: {formats}")
        lines += [f"skipped {s.path}: {s.reason}" for s in self.skipped]
        return lines + [
            f"planted instruction kept out of {p.page_id}, line {p.line}: {_shorten(p.text)}" for p in self.planted
        ]


@dataclass
class PageWrite:
    """One page to write whole: its Document, its chunks, and their vectors (one row per chunk, in order).

    `page_hash`: what the next ingest compares to see whether the page changed (default: `page_hash(index, doc)`).
    """

    doc: Document
    chunks: list[Chunk]
    vectors: np.ndarray
    page_hash: str | None = None


def page_hash(index: Index, doc: Document) -> str:
    """The page's content hash, with what else decides its chunks and vectors (chunker, chunk size, model)."""
    h = hashlib.sha256(document_to_json(doc).encode("utf-8", "surrogatepass"))
    h.update(f"|{CHUNKER_VERSION}|{index.settings.chunk_tokens}|{index.embedder.name}".encode())
    return h.hexdigest()


def write_pages(
    index: Index,
    items: Sequence[PageWrite],
    held: Lease | FileLock | None = None,
    known: dict[str, dict[str, Any]] | None = None,
    slot: Slot | None = None,
) -> None:
    """Write whole pages: their new chunks, then their records (the switch), then their stale chunks' removal.

    Args:
        held: the write lock the caller holds, checked before each write. Without it, `write_pages` takes the lock
            itself and moves the index to a new generation when done, so that readers see the pages.
        known: the page records before this write (default: read from the index, or none for a new slot); chunks
            that a page's old record lists and its new version does not are deleted.
        slot: a slot being built (`Index.replacing`) to write into instead of the index in use.
    """
    for item in items:
        if len(item.vectors) != len(item.chunks):
            raise ValueError(f"page {item.doc.page_id!r}: {len(item.chunks)} chunks but {len(item.vectors)} vectors")
    if held is None:
        with index.write_lock() as lock:
            write_pages(index, items, lock, known, slot)
            lock.check()
            index.set_meta(generation=index.generation() + 1)
        return
    if known is None:
        known = index.page_records() if slot is None else {}  # a new slot holds no earlier versions
    _write(index, items, held, known, slot)


def _write(
    index: Index,
    items: Sequence[PageWrite],
    held: Lease | FileLock,
    known: dict[str, dict[str, Any]],
    slot: Slot | None,
) -> None:
    if not items:
        return
    chunk_collection = slot.chunks if slot is not None else index.collection
    record_collection = slot.records if slot is not None else index.pages_collection
    for part, vectors in _chunk_batches(items, READ_BATCH):
        held.check()
        chunk_collection.upsert(
            ids=[c.id for c, _ in part],
            embeddings=vectors,
            documents=[c.text for c, _ in part],
            metadatas=[chunk_metadata(c, doc) for c, doc in part],
        )
    now = time.time()
    records = [
        page_metadata(item.doc, item.page_hash or page_hash(index, item.doc), item.chunks, now) for item in items
    ]
    held.check()  # a writer that lost its lock while paused must not switch pages to chunks it wrote
    record_collection.upsert(
        ids=[item.doc.page_id for item in items],
        embeddings=[[0.0]] * len(items),
        documents=[document_to_json(item.doc) for item in items],
        metadatas=records,  # type: ignore[arg-type]
    )
    stale: set[str] = set()
    for item in items:
        if old := known.get(item.doc.page_id):
            stale |= set(listed_chunks(old)) - {c.id for c in item.chunks}
    if stale:
        held.check()
        chunk_collection.delete(ids=sorted(stale))


def _chunk_batches(items: Sequence[PageWrite], size: int) -> Iterator[tuple[list[tuple[Chunk, Document]], Any]]:
    """The pages' (chunk, page) pairs with their vectors stacked, `size` at a time (a page may span two batches)."""
    pairs: list[tuple[Chunk, Document]] = []
    blocks: list[np.ndarray] = []
    for item in items:
        start = 0
        while start < len(item.chunks):
            take = min(size - len(pairs), len(item.chunks) - start)
            pairs += [(c, item.doc) for c in item.chunks[start : start + take]]
            blocks.append(item.vectors[start : start + take])
            start += take
            if len(pairs) == size:
                yield pairs, np.concatenate(blocks)
                pairs, blocks = [], []
    if pairs:
        yield pairs, np.concatenate(blocks)


def sync(
    index: Index, loaded: LoadResult, progress: bool | Callable[[int, int], None] = False, rebuild: bool = False
) -> IngestReport:
    """Bring the index in step with the loaded documents.

    Pages no longer present under one of `loaded.roots` are removed; pages from elsewhere are kept; a page whose
    file (or a folder above it) failed to load keeps its last good version. `rebuild`: build the whole index
    anew beside the old one (every page re-embedded, pages from other roots left out) and switch to it when it
    is complete; a page that could not be read is rebuilt from its last good version.
    `progress`: True for a progress bar on stderr, or a callback(done, total) over the chunks to embed.
    """
    loaded = replace(loaded, documents=[flag_planted(d) for d in loaded.documents])  # blanked before hashing
    by_format = {kind: dict(tally) for kind, tally in loaded.by_format.items()}
    report = IngestReport(skipped=list(loaded.skipped), by_format=by_format)
    report.planted = [p for d in loaded.documents for p in planted_in(d)]
    with index.write_lock() as held, _stopped_by_a_full_disk(index):
        if rebuild:
            with index.replacing(held) as slot:
                docs = [*loaded.documents, *_unreadable_pages(index, loaded)]
                todo = [(d, page_hash(index, d), False) for d in docs]
                _embed_and_write(index, todo, {}, held, report, progress, slot)
                report.chunks = sum(int(m.get("n_chunks", 0)) for m in page_records(slot.records).values())
                slot.meta.update(last_ingest=_summary(report))
            return report
        index.repair()
        known = index.page_records()
        loaded = _refuse_taken_ids(loaded, known, report)
        todo = []
        for doc in loaded.documents:
            h = page_hash(index, doc)
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
            index.delete_page(pid, known[pid])
            report.removed += 1
        _embed_and_write(index, todo, known, held, report, progress)
        report.chunks = sum(int(m.get("n_chunks", 0)) for m in index.page_records().values())
        changes: dict[str, Any] = {"last_ingest": _summary(report), "chunker": CHUNKER_VERSION}
        if gone or todo:
            changes["generation"] = index.generation() + 1
        held.check()
        index.set_meta(**changes)
    return report


@contextmanager
def _stopped_by_a_full_disk(index: Index) -> Iterator[None]:
    """A disk that fills up anyway (another program wrote to it) ends the ingest with one sentence, not Chroma's
    traceback; what it left unfinished is removed now if the store can, else by the next ingest."""
    try:
        yield
    except AtlasError:
        raise
    except Exception as exc:
        if not disk_full(exc, index.settings.index_dir):
            raise
        try:
            index.repair()
        except Exception as again:  # noqa: BLE001 (still full: the next ingest repairs it)
            if not disk_full(again, index.settings.index_dir):
                raise
        raise StoreUnavailableError(
            f"{disk_full_message(index.settings.index_dir)} If `atlas-qa index check` then reports missing chunks, "
            "that ingest redoes their pages."
        ) from None


def _check_space(index: Index, texts: Sequence[str], vectors: np.ndarray) -> None:
    """Stop before a write the embedded index's disk has no room for (keeping LOW_SPACE free), so that every page
    already written stays whole: Chroma, when its disk fills mid-write, can lose writes it had acknowledged. A chunk
    takes ~12 KB in Chroma (text ~1.4 KB, stored with its full-text index and log) plus 3 copies of its vector."""
    if index.settings.chroma_url:
        return  # the server's disk: its own errors say so
    need = LOW_SPACE + sum(6 * len(t.encode("utf-8", "surrogatepass")) + 4096 for t in texts) + 12 * vectors.size
    free = free_space(index.settings.index_dir)
    if free < need:
        raise StoreUnavailableError(
            disk_full_message(index.settings.index_dir, free) + " The pages indexed so far are whole; the rest are "
            "as before this ingest."
        )


def _refuse_taken_ids(loaded: LoadResult, known: dict[str, dict[str, Any]], report: IngestReport) -> LoadResult:
    """The loaded pages without those whose page id is an indexed page of another file that is still there (two
    files never share a page: the second is skipped with both named); a page whose file is gone may be replaced."""
    kept = []
    for doc in loaded.documents:
        other = str(known.get(doc.page_id, {}).get("source", ""))
        if other and other != str(Path(doc.source).resolve()) and file_of(other).exists():
            reason = (
                f"page id {doc.page_id!r} is already the page of {other}, which is still there: rename one of them, "
                "or run `atlas-qa ingest --rebuild` on the folder to index only its files"
            )
            report.skipped.append(Skipped(doc.source, reason))
            tally = report.by_format.setdefault(doc.format, {"loaded": 0, "skipped": 0})
            tally["loaded"], tally["skipped"] = tally["loaded"] - 1, tally["skipped"] + 1
        else:
            kept.append(doc)
    return replace(loaded, documents=kept)


def _unreadable_pages(index: Index, loaded: LoadResult) -> list[Document]:
    """The indexed pages whose file, or a folder above it, could not be read this time (as last indexed)."""
    records = index.current_records()
    loaded_ids, skipped = {d.page_id for d in loaded.documents}, _skipped(loaded)
    keep = [pid for pid, m in page_records(records).items() if pid not in loaded_ids and _unreadable(m, skipped)]
    got = records.get(ids=keep, include=["documents"]) if keep else {"documents": []}
    return [document_from_json(d) for d in got["documents"]]


def _embed_and_write(
    index: Index,
    todo: list[tuple[Document, str, bool]],
    known: dict[str, dict[str, Any]],
    held: Lease | FileLock,
    report: IngestReport,
    progress: bool | Callable[[int, int], None],
    slot: Slot | None = None,
) -> None:
    """Chunk, embed and write the pages (into `slot`, or the index in use), checking the lock before each write."""
    embedder = index.embedder
    planned = [
        (doc, h, existed, chunk_document(doc, index.settings.chunk_tokens, embedder.fits_all))
        for doc, h, existed in todo
    ]
    if planned:
        embedder.load()  # a first-use model preparation is announced before the bar, not inside it
    bar = _progress(sum(len(c) for *_, c in planned), progress)
    # Pages are embedded in groups of about EMBED_GROUP chunks (sorted by length inside a group, so little
    # padding), and each group is written by one thread while the next one is embedded.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="atlas-qa-write") as writer:
        writing: Future[None] | None = None
        for group in _groups(planned, EMBED_GROUP):
            texts = [c.embed_text for *_, chunks in group for c in chunks]
            vectors = embedder.embed_batch(texts) if texts else np.zeros((0, 1), np.float32)
            if writing is not None:
                writing.result()  # one group in flight; a failed write stops the ingest here
            _check_space(index, texts, vectors)
            held.check()
            items, at = [], 0
            for doc, h, _, chunks in group:
                items.append(PageWrite(doc, chunks, vectors[at : at + len(chunks)], h))
                at += len(chunks)
            writing = writer.submit(write_pages, index, items, held, known, slot)
            bar.update(len(texts))
            for _, _, existed, chunks in group:
                report.embedded += len(chunks)
                report.updated += existed
                report.added += not existed
        if writing is not None:
            writing.result()
    bar.close()


def _shorten(text: str, limit: int = 100) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _is_under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _unreadable(record: dict[str, Any], skipped: set[Path]) -> bool:
    """Whether a page's file, or a folder above it, is among the `skipped` paths: "cannot read" is not "deleted"."""
    source = Path(str(record.get("source")))
    return bool(skipped.intersection([source, *source.parents]))


def _skipped(loaded: LoadResult) -> set[Path]:
    return {Path(s.path).resolve() for s in loaded.skipped}


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
